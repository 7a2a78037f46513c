//! Hash partitions of a large summary state.
//!
//! A window of a busy summary can hold millions of groups. Compacting, spilling and merging
//! it as one piece makes every step build a hash table of all of them at once, so memory
//! grows with the window's key count. Once a state grows past `engine.state_split_rows` groups it is
//! split by a hash of the group keys into [`PARTS`] parts: every group lives in exactly
//! one part, so each part is compacted, spilled and merged on its own and the emission is
//! the concatenation of the parts' results. Peak memory becomes about one part's share.
//!
//! The part of a row must not change while a state exists, also across a restart with a
//! newer build: checkpoints record [`scheme`], and a state written under another scheme is
//! restored as one unsplit part (always correct, split again when it next grows).

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, UInt32Array};
use arrow::compute::take;
use arrow::record_batch::RecordBatch;
use datafusion::common::hash_utils::{create_hashes, RandomState};

use crate::error::EngineError;

/// Parts of a split state.
pub const PARTS: usize = 16;

/// A seed of our own: DataFusion's hash tables hash the same keys, and partitioning with
/// their hash would leave each part's table with correlated low bits.
const SEED: u64 = 0x466c_6f77_6c6f_6764;

fn state() -> RandomState {
    RandomState::with_seed(SEED)
}

/// Fingerprint of the partitioning function (parts and hash of fixed values), stored in
/// checkpoints so that a change of the hash between builds is detected.
pub fn scheme() -> u64 {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["10.0.0.1", "flowlogd"])),
        Arc::new(Int64Array::from(vec![443, -1])),
    ];
    let mut hashes = vec![0u64; 2];
    match create_hashes(&cols, &state(), &mut hashes) {
        Ok(h) => h[0] ^ h[1].rotate_left(17) ^ PARTS as u64,
        Err(_) => 0,
    }
}

fn part_of(hash: u64) -> usize {
    // High bits: the low ones are what hash tables index by.
    ((hash >> 40) as usize) % PARTS
}

/// Splits `batch` into [`PARTS`] batches by the hash of the `keys` columns (all present in
/// the batch); empty parts are empty batches.
pub fn split(batch: &RecordBatch, keys: &[String]) -> Result<Vec<RecordBatch>, EngineError> {
    let indices = part_indices(batch, keys)?;
    indices
        .into_iter()
        .map(|idx| {
            if idx.len() == batch.num_rows() {
                return Ok(batch.clone());
            }
            take_rows(batch, idx)
        })
        .collect()
}

fn take_rows(batch: &RecordBatch, idx: Vec<u32>) -> Result<RecordBatch, EngineError> {
    let idx = UInt32Array::from(idx);
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), &idx, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// Row numbers of `batch` per part.
fn part_indices(batch: &RecordBatch, keys: &[String]) -> Result<Vec<Vec<u32>>, EngineError> {
    let schema = batch.schema();
    let cols = keys
        .iter()
        .map(|k| {
            schema
                .index_of(k)
                .map(|i| batch.column(i).clone())
                .map_err(EngineError::from)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut hashes = vec![0u64; batch.num_rows()];
    create_hashes(&cols, &state(), &mut hashes).map_err(EngineError::Partition)?;
    let mut indices: Vec<Vec<u32>> = vec![Vec::new(); PARTS];
    for (row, h) in hashes.iter().enumerate() {
        indices[part_of(*h)].push(row as u32);
    }
    Ok(indices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};

    fn batch(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, false),
        ]));
        let k: StringArray = (0..n)
            .map(|i| Some(format!("10.0.{}.{}", i / 256, i % 256)))
            .collect();
        RecordBatch::try_new(
            schema,
            vec![Arc::new(k), Arc::new(Int64Array::from_iter_values(0..n))],
        )
        .unwrap()
    }

    #[test]
    fn every_row_lands_in_one_part_and_equal_keys_together() {
        let b = batch(10_000);
        let parts = split(&b, &["k".into()]).unwrap();
        assert_eq!(parts.len(), PARTS);
        assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 10_000);
        assert!(
            parts.iter().all(|p| p.num_rows() > 300),
            "parts are balanced"
        );
        // The same key in another batch goes to the same part.
        let again = split(&b.slice(1234, 1), &["k".into()]).unwrap();
        let (part, _) = again
            .iter()
            .enumerate()
            .find(|(_, p)| p.num_rows() == 1)
            .unwrap();
        let key = b
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(1234);
        let col = parts[part]
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(col.iter().any(|v| v == Some(key)));
    }

    #[test]
    fn scheme_is_stable_within_a_build() {
        assert_eq!(scheme(), scheme());
        assert_ne!(scheme(), 0);
    }
}
