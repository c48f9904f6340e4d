//! The microscope's metadata files: the texts of the few elements of an EPU XML the reader takes.

use cryodedup_core::io::plain_xml;
use pyo3::prelude::*;

/// The elements at `paths` (local names below the root, `/`-separated): each its text before
/// its first child and whether it has children, `None` when absent; `None` for the whole
/// when the document is not plain, not well-formed (then the caller parses it with
/// ElementTree, which says what is wrong) or its root is not named `root`.
#[pyfunction]
pub(crate) fn element_texts(xml: &[u8], root: &str, paths: Vec<String>) -> Option<Vec<Option<(String, bool)>>> {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let found = plain_xml::element_texts(xml, root, &paths)?;
    Some(found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
}
