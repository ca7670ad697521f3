//! The operators, one per file (or directory). Each file holds the typed factory (what the
//! job graph stores) and the running operator (one per subtask).

pub mod aggregate;
pub mod calc;
pub mod join;
pub mod over;
pub mod over_retract;
pub mod rank;
pub mod sink;
mod time;
pub mod union;
pub mod watermark;
pub mod window_tvf;

pub use aggregate::{
    AggCall, AggFunction, GroupAggregateFactory, SessionAggregateFactory, TimeDomain,
    WindowAggregateFactory,
};
pub use calc::CalcFactory;
pub use join::{
    InputSpec, IntervalJoinFactory, JoinFactory, JoinKind, LookupJoinFactory, LookupTable,
    TemporalJoinFactory, TimeBounds, WindowJoinFactory,
};
pub use over::{OverAggregateFactory, OverFrame};
pub use over_retract::RetractOverFactory;
pub use rank::{RankFactory, SortKey};
pub use sink::SinkOperatorFactory;
pub use union::UnionFactory;
pub use watermark::WatermarkAssignerFactory;
pub use window_tvf::{WindowKind, WindowTvfFactory};
