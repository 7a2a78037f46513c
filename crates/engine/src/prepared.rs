//! Queries planned once and executed per chunk.
//!
//! Planning a query (SQL parsing, analysis, optimization, physical planning) costs far more
//! than aggregating a 10 000-row chunk, so every summary's queries are planned once against
//! a placeholder table whose scan ([`ChunkExec`]) reads the batches bound to the current
//! thread for the duration of one `execute` call. DataFusion operators open their input
//! synchronously inside `execute`, so the binding is only needed there; an operator that
//! opened its input later would find nothing bound and fail loudly, never read other data.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    execute_stream, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::TryStreamExt;

use crate::sql::{nullable, session};

/// Input of one execution, pulled batch by batch (spilled window state is read from disk
/// while it is aggregated, never loaded whole).
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

thread_local! {
    static INPUT: RefCell<Option<BatchIter>> = const { RefCell::new(None) };
}

/// Executions of one physical plan before a fresh copy is made: operators register new
/// metrics on every execution, which would otherwise grow without bound.
const FRESH_COPY_EVERY: usize = 256;

/// A query planned once over table `table` of a fixed schema.
pub struct PreparedQuery {
    template: Arc<dyn ExecutionPlan>,
    current: Mutex<(Arc<dyn ExecutionPlan>, usize)>,
    task_ctx: Arc<TaskContext>,
    input_schema: SchemaRef,
}

impl fmt::Debug for PreparedQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedQuery")
            .field("output", &self.template.schema())
            .finish()
    }
}

impl PreparedQuery {
    pub async fn new(table: &str, schema: SchemaRef, sql: &str) -> Result<Self> {
        let input_schema = nullable(&schema);
        let ctx = session();
        ctx.register_table(
            table,
            Arc::new(ChunkTable {
                schema: input_schema.clone(),
            }),
        )?;
        let plan = ctx.sql(sql).await?.create_physical_plan().await?;
        Ok(Self {
            current: Mutex::new((fresh_copy(&plan)?, 0)),
            template: plan,
            task_ctx: ctx.task_ctx(),
            input_schema,
        })
    }

    /// Schema of the result.
    pub fn schema(&self) -> SchemaRef {
        self.template.schema()
    }

    /// Runs the query over `batches` (which must have the input schema's column types).
    pub async fn run(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        self.run_iter(Box::new(batches.into_iter().map(Ok))).await
    }

    /// Runs the query over batches produced one at a time.
    pub async fn run_iter(&self, batches: BatchIter) -> Result<Vec<RecordBatch>> {
        let schema = self.input_schema.clone();
        let batches: BatchIter = Box::new(batches.map(move |b| {
            b.and_then(|b| Ok(RecordBatch::try_new(schema.clone(), b.columns().to_vec())?))
        }));
        let plan = {
            let mut cur = self
                .current
                .lock()
                .map_err(|_| DataFusionError::Internal("prepared plan lock poisoned".into()))?;
            if cur.1 >= FRESH_COPY_EVERY {
                *cur = (fresh_copy(&self.template)?, 0);
            }
            cur.1 += 1;
            cur.0.clone()
        };
        INPUT.with(|i| *i.borrow_mut() = Some(batches));
        let stream = execute_stream(plan, self.task_ctx.clone());
        let unread = INPUT.with(|i| i.borrow_mut().take());
        let stream = stream?;
        if unread.is_some() {
            return Err(DataFusionError::Internal(
                "prepared plan did not open its input while executing".into(),
            ));
        }
        stream.try_collect().await
    }
}

/// The same plan with fresh operator state (and metrics).
fn fresh_copy(plan: &Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan
        .children()
        .into_iter()
        .map(fresh_copy)
        .collect::<Result<Vec<_>>>()?;
    if children.is_empty() {
        return Ok(plan.clone());
    }
    // Recompute: the operators rebuild their state (and metrics) from scratch.
    plan.clone().replace_children(
        children,
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )
}

/// Placeholder table whose scan is a [`ChunkExec`].
#[derive(Debug)]
struct ChunkTable {
    schema: SchemaRef,
}

#[async_trait::async_trait]
impl TableProvider for ChunkTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ChunkExec::new(
            self.schema.clone(),
            projection.cloned(),
        )))
    }
}

/// Leaf operator: the batches bound to this thread by [`PreparedQuery::run`].
#[derive(Debug)]
struct ChunkExec {
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    props: Arc<PlanProperties>,
}

impl ChunkExec {
    fn new(table_schema: SchemaRef, projection: Option<Vec<usize>>) -> Self {
        let schema = match &projection {
            Some(p) => Arc::new(
                table_schema
                    .project(p)
                    .unwrap_or_else(|_| table_schema.as_ref().clone()),
            ),
            None => table_schema,
        };
        let props = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            projection,
            schema,
            props,
        }
    }
}

impl DisplayAs for ChunkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ChunkExec")
    }
}

impl ExecutionPlan for ChunkExec {
    fn name(&self) -> &str {
        "ChunkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let batches = INPUT.with(|i| i.borrow_mut().take()).ok_or_else(|| {
            DataFusionError::Internal("ChunkExec executed without bound input".into())
        })?;
        let projection = self.projection.clone();
        let batches = batches.map(move |b| match &projection {
            Some(p) => Ok(b?.project(p)?),
            None => b,
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            futures::stream::iter(batches),
        )))
    }
}
