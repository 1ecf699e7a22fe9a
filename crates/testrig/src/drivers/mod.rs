//! The built-in drivers, one file per driver.
