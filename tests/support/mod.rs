pub mod azurite;
pub mod fault_proxy;
