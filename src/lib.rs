pub mod format;
pub mod model;
