//! The `cryodedup._core` extension: arrays in and out of cryodedup-core, the GIL released
//! around the parallel work. This file only registers what the modules define:
//!
//! - [`dedup`]: duplicate removal, consensus counts, nearest-neighbour distances.
//! - [`counts`]: the pictures' histograms and per-micrograph counts.
//! - [`paint`]: the pictures' boxes and text painted in place.
//! - [`images`]: the same particle image twice: image runs and keys, distinct images.
//! - [`picks`]: picker files read and written many at a time, picks joined.
//! - [`keys`]: rows grouped by equal keys (a `.cs` file's micrograph uids or paths), a `.cs`
//!   file's locations read in one pass.
//! - [`subset`]: a subset's rows matched to its original's, by key and by position.
//! - [`star`]: STAR files mapped, indexed, scanned and split.
//! - [`record`]: the record of every rejection (`decisions.csv`) of a job decided in two passes.
//! - [`page`]: the files of picks of the page of every micrograph.
//! - [`micrographs`]: binned images, spectra and their comparison.
//! - [`metadata`]: the microscope's metadata files (EPU XML elements' texts).
//! - [`errors`]: the one mapping of core errors to Python exceptions.

use numpy::IntoPyArray;
use pyo3::prelude::*;

mod counts;
mod dedup;
mod errors;
mod images;
mod keys;
mod metadata;
mod micrographs;
mod page;
mod paint;
mod picks;
mod record;
mod star;
mod subset;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // rust-numpy imports NumPy's C API on first use, running Python code; were that first use
    // in a job, a signal handled meanwhile (Ctrl-C) would fail the import and panic. Import it
    // now, before the CLI handles any signal.
    drop(Vec::<f64>::new().into_pyarray(m.py()));
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SAME_CENTRE_A", cryodedup_core::algo::dedup::SAME_CENTRE)?;
    m.add("BEST_MAX_PAIRS", cryodedup_core::algo::best::MAX_PAIRS)?;
    m.add_function(wrap_pyfunction!(dedup::dedup, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::nearest_distances, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::nearest_histogram, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::random_keys, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::pose_angles, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::symmetry_setting, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::ellipsoid_conflicts, m)?)?;
    m.add_function(wrap_pyfunction!(counts::histogram, m)?)?;
    m.add_function(wrap_pyfunction!(counts::counts_per_group, m)?)?;
    m.add_function(wrap_pyfunction!(counts::order_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(counts::halved_png_rows, m)?)?;
    m.add_function(wrap_pyfunction!(counts::zlib_stream, m)?)?;
    m.add_function(wrap_pyfunction!(paint::fill_box, m)?)?;
    m.add_function(wrap_pyfunction!(page::write_page_picks, m)?)?;
    m.add_function(wrap_pyfunction!(page::page_index_names, m)?)?;
    m.add_function(wrap_pyfunction!(page::page_index_numbers, m)?)?;
    m.add_function(wrap_pyfunction!(paint::blend_mask, m)?)?;
    m.add_function(wrap_pyfunction!(paint::stamp, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::agreement_counts, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::suppress_overlaps, m)?)?;
    m.add_function(wrap_pyfunction!(dedup::percentiles_within, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_runs, m)?)?;
    m.add_function(wrap_pyfunction!(record::write_decisions, m)?)?;
    m.add_class::<record::RecordWriting>()?;
    m.add_class::<record::RecordImages>()?;
    m.add_class::<record::RecordNumbered>()?;
    m.add_function(wrap_pyfunction!(images::image_keys, m)?)?;
    m.add_function(wrap_pyfunction!(images::stack_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_rows, m)?)?;
    m.add_class::<images::NamedImageRows>()?;
    m.add_function(wrap_pyfunction!(images::images_repeated, m)?)?;
    m.add_function(wrap_pyfunction!(images::images_shared, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_indices, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_row_count, m)?)?;
    m.add_function(wrap_pyfunction!(images::images_distinct, m)?)?;
    m.add_function(wrap_pyfunction!(images::images_kept_twice, m)?)?;
    m.add_function(wrap_pyfunction!(keys::group_keys, m)?)?;
    m.add_function(wrap_pyfunction!(subset::match_keys, m)?)?;
    m.add_function(wrap_pyfunction!(subset::match_positions, m)?)?;
    m.add_function(wrap_pyfunction!(subset::release_freed, m)?)?;
    m.add_function(wrap_pyfunction!(keys::repeated_uint64, m)?)?;
    m.add_function(wrap_pyfunction!(keys::name_key_ids, m)?)?;
    m.add_function(wrap_pyfunction!(keys::name_keys, m)?)?;
    m.add_function(wrap_pyfunction!(keys::cs_locations, m)?)?;
    m.add_function(wrap_pyfunction!(metadata::element_texts, m)?)?;
    m.add_function(wrap_pyfunction!(metadata::element_texts_of_files, m)?)?;
    m.add_function(wrap_pyfunction!(micrographs::bin_image, m)?)?;
    m.add_function(wrap_pyfunction!(micrographs::bin_images, m)?)?;
    m.add_function(wrap_pyfunction!(micrographs::append_pair_rows, m)?)?;
    m.add_function(wrap_pyfunction!(picks::read_pick_files, m)?)?;
    m.add_function(wrap_pyfunction!(picks::write_pick_rows, m)?)?;
    m.add_function(wrap_pyfunction!(picks::join_picks, m)?)?;
    m.add_function(wrap_pyfunction!(picks::row_targets, m)?)?;
    m.add_function(wrap_pyfunction!(picks::repeat_int32, m)?)?;
    m.add_function(wrap_pyfunction!(picks::write_pick_numbers, m)?)?;
    m.add_class::<keys::KeyGroups>()?;
    m.add_class::<keys::CsLocations>()?;
    m.add_class::<dedup::DedupRule>()?;
    m.add_class::<dedup::PoseRule>()?;
    m.add_class::<dedup::EllipsoidRule>()?;
    m.add_class::<dedup::DedupDecision>()?;
    m.add_class::<dedup::PriorityCounts>()?;
    m.add_class::<dedup::BestCounts>()?;
    m.add_class::<dedup::OpenComponents>()?;
    m.add_class::<dedup::AgreementCounts>()?;
    m.add_class::<picks::PickFile>()?;
    m.add_class::<picks::PickTables>()?;
    m.add_class::<picks::PickInput>()?;
    m.add_class::<picks::JoinedPicks>()?;
    m.add_class::<picks::PickOutput>()?;
    m.add_class::<star::StarFile>()?;
    m.add_class::<star::PixelSizes>()?;
    m.add_class::<star::ParticleColumns>()?;
    m.add_class::<star::SplitRule>()?;
    m.add_class::<star::ColumnValues>()?;
    m.add_class::<star::StarBlock>()?;
    m.add_class::<star::StarScan>()?;
    m.add_class::<star::ParticleScan>()?;
    m.add_class::<star::ScanPictures>()?;
    m.add_class::<star::NearestHistogram>()?;
    m.add_class::<star::PageFilesPlan>()?;
    m.add_class::<star::PageTexts>()?;
    m.add_class::<micrographs::Geometry>()?;
    m.add_class::<micrographs::PairScores>()?;
    m.add_class::<micrographs::SpectrumBank>()?;
    m.add_class::<micrographs::SpectraBatch>()?;
    m.add_class::<micrographs::SpectrumMaker>()?;
    Ok(())
}
