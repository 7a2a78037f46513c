//! An append-only JSON-lines file, synced after every write: the shared writer of the
//! summary and dead-letter JSON sinks.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{io, SinkError};

pub struct JsonLines {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonLines {
    /// Opens (creating it and its directory if needed) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::new(f),
        })
    }

    /// Appends one line per value, then flushes and syncs the file.
    pub fn write_all<'a, T: Serialize + 'a>(
        &mut self,
        values: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), SinkError> {
        self.append(values)?;
        self.sync()
    }

    /// Appends one line per value (buffered; [`Self::sync`] makes them durable).
    pub fn append<'a, T: Serialize + 'a>(
        &mut self,
        values: impl IntoIterator<Item = &'a T>,
    ) -> Result<(), SinkError> {
        for v in values {
            serde_json::to_writer(&mut self.out, v)?;
            self.out.write_all(b"\n").map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Appends lines that are already JSON text (buffered, like [`Self::append`]).
    pub fn append_lines<'a>(
        &mut self,
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), SinkError> {
        for l in lines {
            self.out.write_all(l.as_bytes()).map_err(io(&self.path))?;
            self.out.write_all(b"\n").map_err(io(&self.path))?;
        }
        Ok(())
    }

    /// Flushes and syncs what was appended.
    pub fn sync(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(io(&self.path))?;
        self.out.get_ref().sync_data().map_err(io(&self.path))
    }
}
