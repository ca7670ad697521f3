//! The operators, one per file. Each file holds the typed factory (what the
//! job graph stores) and the running operator (one per subtask).

pub mod calc;
pub mod sink;
pub mod watermark;

pub use calc::CalcFactory;
pub use sink::SinkOperatorFactory;
pub use watermark::WatermarkAssignerFactory;
