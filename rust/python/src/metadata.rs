//! The microscope's metadata files: the texts of the few elements of an EPU XML the reader takes.

use cryodedup_core::io::xml_texts::{self, Document, XmlError};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// The root element's local name, and each element's text and whether it has children (`None`: absent).
type Found = (String, Vec<Option<(String, bool)>>);

fn found(document: Document) -> Found {
    (document.root, document.found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
}

/// The elements at `paths` (local names below the root, `/`-separated, when the root's local
/// name is `root`): each its text before its first child and whether it has children, `None`
/// when absent, with the root's local name; `ValueError` with expat's one-line message (what,
/// line, column) when the document is not well-formed or not taken.
#[pyfunction]
pub(crate) fn element_texts(xml: &[u8], root: &str, paths: Vec<String>) -> PyResult<Found> {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    xml_texts::element_texts(xml, root, &paths).map(found).map_err(|XmlError(e)| PyValueError::new_err(e))
}

/// [`element_texts`] of each file (paths), read and scanned on every core, the GIL released:
/// each file's elements, or its error's message; `None` for a file that is not a regular
/// file or cannot be read (the caller reads it and says why).
#[pyfunction]
pub(crate) fn element_texts_of_files(
    py: Python<'_>,
    files: Vec<PathBuf>,
    root: &str,
    paths: Vec<String>,
) -> Vec<Option<Scanned>> {
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let read = py.detach(|| xml_texts::element_texts_of_files(&files, root, &paths));
    read.into_iter()
        .map(|file| {
            Some(match file? {
                Ok(document) => Scanned::Found(found(document)),
                Err(XmlError(e)) => Scanned::Refused(e),
            })
        })
        .collect()
}

/// One file's scan, to Python: its elements (a tuple) or its error's message (a string).
#[derive(IntoPyObject)]
pub(crate) enum Scanned {
    Found(Found),
    Refused(String),
}
