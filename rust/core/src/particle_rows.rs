//! The particle job's pass over a big particle loop: per row only what the decision needs
//! (centre in Å, score, micrograph id), computed while the file streams through a window,
//! so that memory grows by 28 bytes per 2D particle (16 centre, 8 score, 4 micrograph id)
//! and not with the file.
//!
//! Centres follow docs/design.md section 2 with the same floating-point operations, in the
//! same order, as the array code they replace: `x * psize_mic - origin` (origin in Å), or
//! `x * psize_mic - origin * (1e4 * detector_pixel_size / magnification)` (RELION 3.0,
//! origin in particle pixels), or `x - origin` for coordinates already in Å.

use std::collections::HashMap;

use crate::star::{scan_rows_streaming, Release, ScanRequest, StarError, Table};

/// Where each row's micrograph pixel size comes from.
#[derive(Clone, Debug)]
pub enum PixelSize {
    /// Coordinates are in Å already: no pixel size is applied.
    Angstrom,
    /// One pixel size for every row (`--mic-psize`).
    Constant(f64),
    /// By the row's optics group number: (group, pixel size) pairs; a group not listed
    /// gives NaN (the caller then names the group it lacks).
    ByOpticsGroup { column: usize, table: Vec<(f64, f64)> },
    /// By the row's micrograph name (a micrographs STAR); a name not listed gives NaN.
    ByMicrograph(HashMap<Vec<u8>, f64>),
}

/// The columns that locate a particle, and the units to bring them to Å.
#[derive(Clone, Debug)]
pub struct CentrePlan {
    /// The micrograph name column (particles are compared within one micrograph).
    pub key: usize,
    /// The coordinate column of each axis (2 or 3).
    pub coords: Vec<usize>,
    /// The origin column of each axis, if any (subtracted).
    pub origins: Vec<Option<usize>>,
    /// (rlnDetectorPixelSize, rlnMagnification) columns when origins are in particle pixels.
    pub origin_pixels: Option<(usize, usize)>,
    pub psize: PixelSize,
    /// The score column, if any.
    pub score: Option<usize>,
}

/// What the pass keeps per row, and what it saw per micrograph and optics group.
#[derive(Debug, Default)]
pub struct ParticleRows {
    /// Centres in Å, row-major, `coords.len()` values per row.
    pub centres: Vec<f64>,
    /// The score of each row (empty without a score column).
    pub scores: Vec<f64>,
    /// The micrograph id of each row, an index into `key_names`.
    pub keys: Vec<u32>,
    /// Distinct micrograph names by id, in order of first appearance.
    pub key_names: Vec<Vec<u8>>,
    /// The pixel size of each micrograph (of its first row), by id.
    pub key_psizes: Vec<f64>,
    /// Distinct optics group numbers met (with `PixelSize::ByOpticsGroup`), in order met.
    pub optics_groups: Vec<f64>,
}

fn lookup(table: &[(f64, f64)], group: f64) -> f64 {
    let same = |g: f64| g == group || (g.is_nan() && group.is_nan());
    table.iter().find(|&&(g, _)| same(g)).map_or(f64::NAN, |&(_, p)| p)
}

/// Scans the particle loop `table` of `data` one window at a time (released behind), keeping
/// per row the centre, score and micrograph id of `plan`.
pub fn scan_particles(
    data: &[u8],
    table: &Table,
    plan: &CentrePlan,
    release: Release,
) -> Result<ParticleRows, StarError> {
    // The number columns, in this order: coordinates, origins, pixel-size columns, optics group, score.
    let mut cols: Vec<usize> = plan.coords.clone();
    let origin_slot: Vec<Option<usize>> = plan
        .origins
        .iter()
        .map(|o| {
            o.map(|c| {
                cols.push(c);
                cols.len() - 1
            })
        })
        .collect();
    let mut push = |c: usize| {
        cols.push(c);
        cols.len() - 1
    };
    let pixel_slots = plan.origin_pixels.map(|(det, mag)| (push(det), push(mag)));
    let group_slot = match &plan.psize {
        PixelSize::ByOpticsGroup { column, .. } => Some(push(*column)),
        _ => None,
    };
    let score_slot = plan.score.map(&mut push);
    let dim = plan.coords.len();
    let mut out = ParticleRows::default();
    let request = ScanRequest { number_cols: &cols, key_col: Some(plan.key), missing: None };
    let mut key_psizes: Vec<f64> = Vec::new();
    out.key_names = scan_rows_streaming(data, table, &request, release, |rows, names| {
        let n = rows.keys.len();
        out.centres.reserve(n * dim);
        for i in 0..n {
            let key = rows.keys[i] as usize;
            let psize = match &plan.psize {
                PixelSize::Angstrom => 1.0,
                PixelSize::Constant(p) => *p,
                PixelSize::ByOpticsGroup { table, .. } => {
                    let group = rows.numbers[group_slot.unwrap()][i];
                    if !out.optics_groups.iter().any(|&g| g == group || (g.is_nan() && group.is_nan())) {
                        out.optics_groups.push(group);
                    }
                    lookup(table, group)
                }
                PixelSize::ByMicrograph(by_name) => {
                    if key >= key_psizes.len() {
                        key_psizes.extend(
                            names[key_psizes.len()..=key]
                                .iter()
                                .map(|name| by_name.get(name).copied().unwrap_or(f64::NAN)),
                        );
                    }
                    key_psizes[key]
                }
            };
            if key == key_psizes.len() {
                key_psizes.push(psize); // a micrograph's first row gives its pixel size
            }
            let image_psize = pixel_slots.map(|(d, m)| 1e4 * rows.numbers[d][i] / rows.numbers[m][i]);
            for (axis, origin) in origin_slot.iter().enumerate() {
                let x = rows.numbers[axis][i];
                let mut c = if matches!(plan.psize, PixelSize::Angstrom) { x } else { x * psize };
                if let Some(slot) = *origin {
                    let origin = rows.numbers[slot][i];
                    c -= match image_psize {
                        Some(p) => origin * p,
                        None => origin,
                    };
                }
                out.centres.push(c);
            }
        }
        if let Some(slot) = score_slot {
            out.scores.extend_from_slice(&rows.numbers[slot]);
        }
        out.keys.extend_from_slice(&rows.keys);
    })?;
    out.key_psizes = key_psizes;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::star::{index, keep_all};

    const FILE: &str = "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n1 1.5\n\ndata_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnOriginXAngst\n_rlnOriginYAngst\n_rlnOpticsGroup\n_rlnMicrographName\n_rlnScore\n10 20 3 -4 1 a.mrc 0.5\n# comment\n11 21 0.25 0 2 b.mrc 0.7\n12 22 0 0 1 a.mrc nan\n";

    fn plan(psize: PixelSize) -> CentrePlan {
        CentrePlan {
            key: 5,
            coords: vec![0, 1],
            origins: vec![Some(2), Some(3)],
            origin_pixels: None,
            psize,
            score: Some(6),
        }
    }

    #[test]
    fn centres_scores_and_keys_by_optics_group() {
        let data = FILE.as_bytes();
        let blocks = index(data).unwrap();
        let table = blocks[1].table.as_ref().unwrap();
        let p = plan(PixelSize::ByOpticsGroup { column: 4, table: vec![(1.0, 1.5)] });
        let rows = scan_particles(data, table, &p, &keep_all).unwrap();
        // 10 * 1.5 - 3 = 12, 20 * 1.5 + 4 = 34; group 2 is not in the table: NaN.
        assert_eq!(&rows.centres[..2], &[12.0, 34.0]);
        assert!(rows.centres[2].is_nan() && rows.centres[3].is_nan());
        assert_eq!(&rows.centres[4..], &[18.0, 33.0]);
        assert_eq!(rows.keys, vec![0, 1, 0]);
        assert_eq!(rows.key_names, vec![b"a.mrc".to_vec(), b"b.mrc".to_vec()]);
        assert_eq!(rows.optics_groups, vec![1.0, 2.0]);
        assert_eq!(rows.scores[..2], [0.5, 0.7]);
        assert!(rows.scores[2].is_nan());
        assert_eq!(rows.key_psizes[0], 1.5);
    }

    #[test]
    fn origins_in_particle_pixels_and_micrograph_pixel_sizes() {
        let data =
            b"data_\nloop_\n_x\n_y\n_ox\n_oy\n_det\n_mag\n_m\n100 200 2 -2 5 50000 m1\n100 200 2 -2 5 50000 m2\n";
        let blocks = index(data).unwrap();
        let table = blocks[0].table.as_ref().unwrap();
        let by_name: HashMap<Vec<u8>, f64> = [(b"m1".to_vec(), 2.0)].into_iter().collect();
        let p = CentrePlan {
            key: 6,
            coords: vec![0, 1],
            origins: vec![Some(2), Some(3)],
            origin_pixels: Some((4, 5)),
            psize: PixelSize::ByMicrograph(by_name),
            score: None,
        };
        let rows = scan_particles(data, table, &p, &keep_all).unwrap();
        // Image pixel 1e4 * 5 / 50000 = 1 Å: 100 * 2 - 2 * 1 = 198, 200 * 2 + 2 = 402.
        assert_eq!(&rows.centres[..2], &[198.0, 402.0]);
        assert!(rows.centres[2].is_nan());
        assert_eq!(rows.key_psizes[0], 2.0);
        assert!(rows.key_psizes[1].is_nan());
        assert!(rows.scores.is_empty());
    }
}
