//! Documents members download: invoice copies and account statements as PDF
//! (and statements as CSV), laid out as practices and accountants expect them.

pub mod csv;
pub mod pdf;
