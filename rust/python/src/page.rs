//! The page of every micrograph's files of picks (cryodedup_core::io::page_picks), made and
//! written on every core, and its index's long columns as text (cryodedup_core::io::page_index),
//! the GIL released.

use std::path::PathBuf;

use cryodedup_core::io::page_index;
use cryodedup_core::io::page_picks::{write_picks_files, Ids, PageError, PagePicks};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use crate::dedup::{on_groups, Groups};
use crate::errors::{self, CoreError};

/// A column of small ids as Python hands it over: uint8 (the usual inputs), uint32 (species)
/// or int32.
#[derive(FromPyObject)]
pub(crate) enum IdColumn<'py> {
    U8(PyReadonlyArray1<'py, u8>),
    U32(PyReadonlyArray1<'py, u32>),
    I32(PyReadonlyArray1<'py, i32>),
}

impl IdColumn<'_> {
    fn ids(&self) -> PyResult<Ids<'_>> {
        Ok(match self {
            IdColumn::U8(a) => Ids::U8(a.as_slice()?),
            IdColumn::U32(a) => Ids::U32(a.as_slice()?),
            IdColumn::I32(a) => Ids::I32(a.as_slice()?),
        })
    }
}

/// write_page_picks(paths, chunk, starts, groups, centres, inputs, species, rejected, rule,
/// partner, order): writes `paths[k]`, the picks of micrographs `k * chunk` on, as the page's
/// script reads them (report/micrograph_page.py says the format). `starts` int64 (each
/// micrograph's first place in micrograph order, and the end); groups uint32 or int64;
/// centres float64 (n, 2 or 3), Å; inputs and species (or None) uint8, uint32 or int32;
/// rejected int64 (ascending rows), rule int8, partner int64 (-1: none); order int64 (the
/// rows micrograph by micrograph) or None where they are so already.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_page_picks<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    chunk: usize,
    starts: PyReadonlyArray1<'py, i64>,
    groups: Groups<'py>,
    centres: PyReadonlyArray2<'py, f64>,
    inputs: IdColumn<'py>,
    species: Option<IdColumn<'py>>,
    rejected: PyReadonlyArray1<'py, i64>,
    rule: PyReadonlyArray1<'py, i8>,
    partner: PyReadonlyArray1<'py, i64>,
    order: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<()> {
    let dim = centres.shape()[1];
    let (centres, starts) = (centres.as_slice()?, starts.as_slice()?);
    let (inputs, species) = (inputs.ids()?, species.as_ref().map(IdColumn::ids).transpose()?);
    let (rejected, rule, partner) = (rejected.as_slice()?, rule.as_slice()?, partner.as_slice()?);
    let order = order.as_ref().map(|o| o.as_slice()).transpose()?;
    let written = on_groups!(groups, |ids| {
        let picks = PagePicks { groups: ids, centres, dim, inputs, species, rejected, rule, partner, order, starts };
        py.detach(|| write_picks_files(&picks, chunk, &paths))
    });
    written.map_err(|error| match error {
        PageError::Write { path, error } => CoreError::writing(&path, error).into(),
        PageError::Call(message) => errors::value(message),
    })
}

/// page_index_names(names) -> (text, cards): the JSON text of the micrographs' `names` and of
/// their cards' names (None: the cards show the whole names), as json.dumps writes them. A
/// name held with a lone surrogate (a file name's bytes not UTF-8) raises UnicodeEncodeError.
#[pyfunction]
pub(crate) fn page_index_names(py: Python<'_>, names: Vec<PyBackedStr>) -> (String, Option<String>) {
    let names: Vec<&str> = names.iter().map(|name| &**name).collect();
    py.detach(|| {
        let cards = page_index::card_names(&names).map(page_index::strings);
        (page_index::strings(names.iter().copied()), cards)
    })
}

/// page_index_numbers(values) -> text: an int64 array (one or two dimensions) as the JSON text
/// json.dumps writes of its list.
#[pyfunction]
pub(crate) fn page_index_numbers(py: Python<'_>, values: PyReadonlyArrayDyn<'_, i64>) -> PyResult<String> {
    let rows = match values.shape() {
        [_] => None,
        [rows, _] => Some(*rows),
        _ => return Err(errors::value("values must have one or two dimensions".into())),
    };
    let values = values.as_slice()?;
    Ok(py.detach(|| page_index::whole_numbers(values, rows)))
}
