//! Running generated SQL over in-memory batches with DataFusion.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A single-partition session: parallelism comes from running many chunks at once, not
/// from splitting one small batch.
pub fn session() -> SessionContext {
    SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(16 * 1024),
    )
}

/// Runs `sql` with `batches` registered as table `table`.
pub async fn run(
    table: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    let ctx = session();
    // Batches from different plans can differ in nullability only; make one schema fit all.
    let schema = nullable(&schema);
    let batches = batches
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mem = MemTable::try_new(schema, vec![batches])?;
    ctx.register_table(table, Arc::new(mem))?;
    let df = ctx.sql(sql).await?;
    df.collect().await
}

/// The schema with every field nullable.
pub(crate) fn nullable(schema: &SchemaRef) -> SchemaRef {
    if schema.fields().iter().all(|f| f.is_nullable()) {
        return schema.clone();
    }
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}
