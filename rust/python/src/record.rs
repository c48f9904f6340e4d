//! The record of every rejection (`decisions.csv`) of a job decided in two passes, written by
//! the core on a thread of its own while the job writes its kept and rejected rows. See
//! `cryodedup_core::io::decisions_table`.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::JoinHandle;

use cryodedup_core::io::decisions_table::{self, Names, StackNames, Table};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{self, CoreError};

/// The record's writing thread: `finish()` waits for it and raises its write error.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct RecordWriting {
    path: PathBuf,
    thread: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

#[pymethods]
impl RecordWriting {
    /// Waits until the record is written and flushed; raises its write error (as an OSError
    /// naming the file). A second call waits for nothing.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        let thread = self.thread.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let Some(thread) = thread else { return Ok(()) };
        let done = py.detach(|| thread.join().unwrap_or_else(|_| Err(std::io::Error::other("its thread panicked"))));
        done.map_err(|e| CoreError::writing(&self.path, e).into())
    }
}

/// The particle names of the record as image runs: the runs ((n, 5) uint64), their listed
/// indices (uint32) and their stack names (the names' bytes, where each ends, each prefix's
/// length), as the scan keeps them.
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct RecordImages {
    runs: Py<PyArray2<u64>>,
    indices: Py<PyArray1<u32>>,
    stack_bytes: Py<PyBytes>,
    stack_ends: Py<PyArray1<u64>>,
    stack_prefixes: Py<PyArray1<u8>>,
}

#[pymethods]
impl RecordImages {
    #[new]
    fn new(
        runs: Py<PyArray2<u64>>,
        indices: Py<PyArray1<u32>>,
        stack_bytes: Py<PyBytes>,
        stack_ends: Py<PyArray1<u64>>,
        stack_prefixes: Py<PyArray1<u8>>,
    ) -> Self {
        Self { runs, indices, stack_bytes, stack_ends, stack_prefixes }
    }
}

/// The particle names of the record as a text and a number each (`uid 12`): the texts (bytes:
/// `os.fsencode`, a file name that is not UTF-8 as the file system holds it), and each rejected
/// row's and partner's text (uint32, 2**32 - 1: none) and number (uint64).
#[pyclass(module = "cryodedup._core", frozen)]
pub(crate) struct RecordNumbered {
    texts: Vec<Vec<u8>>,
    row_texts: Py<PyArray1<u32>>,
    row_numbers: Py<PyArray1<u64>>,
    partner_texts: Py<PyArray1<u32>>,
    partner_numbers: Py<PyArray1<u64>>,
}

#[pymethods]
impl RecordNumbered {
    #[new]
    fn new(
        texts: Vec<Vec<u8>>,
        row_texts: Py<PyArray1<u32>>,
        row_numbers: Py<PyArray1<u64>>,
        partner_texts: Py<PyArray1<u32>>,
        partner_numbers: Py<PyArray1<u64>>,
    ) -> Self {
        Self { texts, row_texts, row_numbers, partner_texts, partner_numbers }
    }
}

/// write_decisions(path, inputs, bounds, rows, partners, micrographs, micrograph_names,
/// distance, angle, rule, rule_names, kept_by, images=None, numbered=None) -> RecordWriting:
/// starts writing the record of the rejected `rows` (uint32, in order; `partners` uint32,
/// 2**32 - 1: none) to `path` on a thread of its own (see
/// `cryodedup_core::io::decisions_table::Table` for the columns; `inputs` and
/// `micrograph_names` are bytes, `os.fsencode`'s: a file name that is not UTF-8 is written as
/// the file system holds it). The particles' names:
/// `images`, the rows' image runs, listed indices and stack names; or `numbered`, a text and
/// a number each (`uid 12`); neither: empty.
#[pyfunction]
#[pyo3(signature = (path, inputs, bounds, rows, partners, micrographs, micrograph_names, distance, angle, rule, rule_names, kept_by, images=None, numbered=None))]
#[allow(clippy::too_many_arguments)] // (the record's columns, each an array or list of its own)
pub(crate) fn write_decisions(
    py: Python<'_>,
    path: PathBuf,
    inputs: Vec<Vec<u8>>,
    bounds: Vec<u64>,
    rows: PyReadonlyArray1<'_, u32>,
    partners: PyReadonlyArray1<'_, u32>,
    micrographs: PyReadonlyArray1<'_, u32>,
    micrograph_names: Vec<Vec<u8>>,
    distance: PyReadonlyArray1<'_, f64>,
    angle: Option<PyReadonlyArray1<'_, f64>>,
    rule: PyReadonlyArray1<'_, u8>,
    rule_names: Vec<String>,
    kept_by: Vec<String>,
    images: Option<PyRef<'_, RecordImages>>,
    numbered: Option<PyRef<'_, RecordNumbered>>,
) -> PyResult<RecordWriting> {
    let mut table = Table {
        inputs,
        bounds,
        rows: rows.as_slice()?.to_vec(),
        partners: partners.as_slice()?.to_vec(),
        micrographs: micrographs.as_slice()?.to_vec(),
        micrograph_names,
        distance: distance.as_slice()?.to_vec(),
        angle: angle.map(|a| a.as_slice().map(<[f64]>::to_vec)).transpose()?,
        rule: rule.as_slice()?.to_vec(),
        rule_names,
        kept_by,
        names: None,
    };
    table.check().map_err(|e| errors::value(e.to_string()))?;
    if let Some(images) = images {
        let stacks = (
            images.stack_bytes.bind(py).clone(),
            images.stack_ends.bind(py).readonly(),
            images.stack_prefixes.bind(py).readonly(),
        );
        let (runs, indices) = (images.runs.bind(py).readonly(), images.indices.bind(py).readonly());
        table.names = Some(names_of(py, &table, &runs, indices.as_slice()?, stacks)?);
        table.check().map_err(|e| errors::value(e.to_string()))?; // (the names' runs and stacks)
    } else if let Some(numbered) = numbered {
        let pairs = |t: &[u32], n: &[u64]| t.iter().copied().zip(n.iter().copied()).collect::<Vec<_>>();
        let texts = numbered.texts.clone();
        let (row_texts, partner_texts) =
            (numbered.row_texts.bind(py).readonly(), numbered.partner_texts.bind(py).readonly());
        let (row_numbers, partner_numbers) =
            (numbered.row_numbers.bind(py).readonly(), numbered.partner_numbers.bind(py).readonly());
        let (rows, partners) = (row_texts.as_slice()?, partner_texts.as_slice()?);
        let (row_numbers, partner_numbers) = (row_numbers.as_slice()?, partner_numbers.as_slice()?);
        if rows.len() != row_numbers.len() || partners.len() != partner_numbers.len() {
            return Err(errors::value("numbered names: texts and numbers of other lengths".into()));
        }
        let (rows, partners) = (pairs(rows, row_numbers), pairs(partners, partner_numbers));
        table.names = Some(Names::Numbered { texts, rows, partners });
        table.check().map_err(|e| errors::value(e.to_string()))?;
    }
    let file = File::create(&path).map_err(|e| CoreError::writing(&path, e))?;
    let thread = std::thread::Builder::new()
        .name("cryodedup-record".into())
        .spawn(move || decisions_table::write_table(&table, BufWriter::with_capacity(1 << 20, file)))
        .expect("the system gives a thread for the record"); // (as std::thread::spawn)
    Ok(RecordWriting { path, thread: Mutex::new(Some(thread)) })
}

/// The images of the table's rows and partners, and the runs' stack names.
fn names_of(
    py: Python<'_>,
    table: &Table,
    runs: &PyReadonlyArray2<'_, u64>,
    indices: &[u32],
    (bytes, ends, prefixes): (Bound<'_, PyBytes>, PyReadonlyArray1<'_, u64>, PyReadonlyArray1<'_, u8>),
) -> PyResult<Names> {
    let runs = crate::images::runs_of(runs)?;
    let count = cryodedup_core::images::row_count(&runs) as u64;
    if table.bounds.last().copied().unwrap_or(0) != count {
        return Err(errors::value(format!("{count} rows in the image runs, {:?} in the inputs", table.bounds.last())));
    }
    let stacks = StackNames {
        bytes: bytes.as_bytes().to_vec(),
        ends: ends.as_slice()?.to_vec(),
        prefixes: prefixes.as_slice()?.to_vec(),
    };
    let (of_rows, of_partners) = py.detach(|| {
        let rows = decisions_table::images_of(&runs, indices, &table.rows);
        (rows, decisions_table::images_of(&runs, indices, &table.partners))
    });
    let (rows, partners) = (of_rows.map_err(CoreError::from)?, of_partners.map_err(CoreError::from)?);
    Ok(Names::Images { rows, partners, stacks })
}
