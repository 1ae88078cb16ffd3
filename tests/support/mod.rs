pub mod azurite;
pub mod export;
pub mod fault_proxy;
pub mod files;
pub mod hostile;
pub mod runs;
pub mod skip;
pub mod tmpfs;
