pub mod azurite;
