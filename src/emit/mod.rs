//! Turning recommendations into text people commit: index DDL and migration files.

pub mod ddl;
