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

use crate::errors::StarError;
use crate::images::ImageRows;
use crate::io::star::{index_scanning, scan_rows_streaming, Block, LoopOf, Release, RowScan, ScanRequest, Table};

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
    /// Further number columns kept whole, in this order (a filament's tube, half-sets,
    /// orientations, a subtomogram's origins and angles): read in the same pass, not a second.
    pub extra: Vec<usize>,
    /// The image name column (`rlnImageName`), if the images are keyed (crate::images).
    pub image: Option<usize>,
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
    /// The values of each of the plan's `extra` columns, one per row.
    pub extra: Vec<Vec<f64>>,
    /// Each row's image index and the runs of the image column (empty without `plan.image`).
    pub images: ImageRows,
}

fn lookup(table: &[(f64, f64)], group: f64) -> f64 {
    let same = |g: f64| g == group || (g.is_nan() && group.is_nan());
    table.iter().find(|&&(g, _)| same(g)).map_or(f64::NAN, |&(_, p)| p)
}

/// Which particle loop a scan reads.
#[derive(Clone, Copy)]
pub enum Loop<'a> {
    /// The loop of an indexed file.
    Indexed(&'a Table),
    /// The loop of the first block named so, scanned while the rest of the file is indexed
    /// ([`index_scanning`]): a file bigger than memory is read from the disk once, not
    /// twice, and each row line is walked once. The caller made its plan from the file's
    /// index up to that loop's first row ([`index_header`](crate::io::star::index_header)).
    Deferred(&'a str),
}

/// Scans the particle loop `table` of `data` one window at a time (released behind), keeping
/// per row the centre, score and micrograph id of `plan`.
pub fn scan_particles(
    data: &[u8],
    table: &Table,
    plan: &CentrePlan,
    release: Release,
) -> Result<ParticleRows, StarError> {
    Ok(scan_loop(data, Loop::Indexed(table), plan, release, |_, _, _| {})?.1)
}

/// Scans the loop `source` as [`scan_particles`] does, calling `after` with each piece of
/// rows once it is kept (the piece, the micrograph names by id so far, everything kept so
/// far). Returns the whole index of a [`Loop::Deferred`] scan, and the rows.
pub fn scan_loop(
    data: &[u8],
    source: Loop,
    plan: &CentrePlan,
    release: Release,
    mut after: impl FnMut(&RowScan, &[Vec<u8>], &ParticleRows),
) -> Result<(Option<Vec<Block>>, ParticleRows), StarError> {
    let mut scanner = Scanner::new(plan);
    let cols = scanner.cols.clone();
    let request = ScanRequest { number_cols: &cols, key_col: Some(plan.key), missing: None, image_col: plan.image };
    let consume = |rows: &RowScan, names: &[Vec<u8>]| {
        scanner.take(rows, names);
        after(rows, names, &scanner.out);
    };
    let (blocks, key_names) = match source {
        Loop::Indexed(table) => (None, scan_rows_streaming(data, table, &request, release, consume)?),
        Loop::Deferred(name) => {
            let (blocks, key_names) = index_scanning(data, LoopOf::Block(name), &request, release, consume)?;
            (Some(blocks), key_names)
        }
    };
    Ok((blocks, scanner.finish(key_names)))
}

/// What the scan of one loop keeps of its rows, piece by piece.
struct Scanner<'a> {
    plan: &'a CentrePlan,
    /// The number columns, in this order: coordinates, origins, pixel-size columns, optics group, score, extra.
    cols: Vec<usize>,
    origin_slot: Vec<Option<usize>>,
    pixel_slots: Option<(usize, usize)>,
    group_slot: Option<usize>,
    score_slot: Option<usize>,
    /// The slot of each `extra` column.
    extra_slots: Vec<usize>,
    key_psizes: Vec<f64>,
    out: ParticleRows,
}

impl<'a> Scanner<'a> {
    fn new(plan: &'a CentrePlan) -> Self {
        // A column asked for twice (a score that is also a coordinate, an optics group or a
        // magnification, an extra column the plan reads already) takes the slot it has: the
        // scan fills one slot a column, and a second slot would stay empty.
        let mut cols: Vec<usize> = Vec::new();
        let mut slot_of = |c: usize| {
            cols.iter().position(|&k| k == c).unwrap_or_else(|| {
                cols.push(c);
                cols.len() - 1
            })
        };
        // The coordinates first: slot `axis` is axis `axis` (Scanner::take).
        for &c in &plan.coords {
            let slot = slot_of(c);
            assert!(slot < plan.coords.len(), "a coordinate column given for two axes");
        }
        let origin_slot: Vec<Option<usize>> = plan.origins.iter().map(|o| o.map(&mut slot_of)).collect();
        let pixel_slots = plan.origin_pixels.map(|(det, mag)| (slot_of(det), slot_of(mag)));
        let group_slot = match &plan.psize {
            PixelSize::ByOpticsGroup { column, .. } => Some(slot_of(*column)),
            _ => None,
        };
        let score_slot = plan.score.map(&mut slot_of);
        let extra_slots: Vec<usize> = plan.extra.iter().map(|&c| slot_of(c)).collect();
        Scanner {
            plan,
            cols,
            origin_slot,
            pixel_slots,
            group_slot,
            score_slot,
            extra_slots,
            key_psizes: Vec::new(),
            out: ParticleRows { extra: vec![Vec::new(); plan.extra.len()], ..ParticleRows::default() },
        }
    }

    /// Keeps what the job needs of one piece of scanned rows.
    fn take(&mut self, rows: &RowScan, names: &[Vec<u8>]) {
        let plan = self.plan;
        let out = &mut self.out;
        let key_psizes = &mut self.key_psizes;
        let n = rows.keys.len();
        // Each column read as a slice of the piece's rows, once (not indexed twice a row).
        let column = |slot: usize| &rows.numbers[slot][..n];
        let axes: Vec<(&[f64], Option<&[f64]>)> =
            self.origin_slot.iter().enumerate().map(|(axis, origin)| (column(axis), origin.map(column))).collect();
        let pixels = self.pixel_slots.map(|(d, m)| (column(d), column(m)));
        let groups = self.group_slot.map(column);
        let angstrom = matches!(plan.psize, PixelSize::Angstrom);
        // The last row's optics group (its bits) and pixel size: rows of a group follow each other.
        let mut last_group: Option<(u64, f64)> = None;
        out.centres.reserve(n * axes.len());
        for (i, &key) in rows.keys.iter().enumerate() {
            let key = key as usize;
            let psize = match &plan.psize {
                PixelSize::Angstrom => 1.0,
                PixelSize::Constant(p) => *p,
                PixelSize::ByOpticsGroup { table, .. } => {
                    let group = groups.expect("a scan by optics group reads the group column")[i];
                    match last_group {
                        Some((bits, psize)) if bits == group.to_bits() => psize,
                        _ => {
                            if !out.optics_groups.iter().any(|&g| g == group || (g.is_nan() && group.is_nan())) {
                                out.optics_groups.push(group);
                            }
                            let psize = lookup(table, group);
                            last_group = Some((group.to_bits(), psize));
                            psize
                        }
                    }
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
            let image_psize = pixels.map(|(d, m)| 1e4 * d[i] / m[i]);
            for &(coords, origins) in &axes {
                let x = coords[i];
                let mut c = if angstrom { x } else { x * psize };
                if let Some(origins) = origins {
                    let origin = origins[i];
                    c -= match image_psize {
                        Some(p) => origin * p,
                        None => origin,
                    };
                }
                out.centres.push(c);
            }
        }
        if let Some(slot) = self.score_slot {
            out.scores.extend_from_slice(&rows.numbers[slot]);
        }
        for (values, &slot) in out.extra.iter_mut().zip(&self.extra_slots) {
            values.extend_from_slice(&rows.numbers[slot]);
        }
        out.keys.extend_from_slice(&rows.keys);
        out.images.extend(&rows.images);
    }

    fn finish(mut self, key_names: Vec<Vec<u8>>) -> ParticleRows {
        self.out.key_names = key_names;
        self.out.key_psizes = self.key_psizes;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::star::{index, keep_all, Block};

    const FILE: &str = "data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n1 1.5\n\ndata_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnOriginXAngst\n_rlnOriginYAngst\n_rlnOpticsGroup\n_rlnMicrographName\n_rlnScore\n10 20 3 -4 1 a.mrc 0.5\n# comment\n11 21 0.25 0 2 b.mrc 0.7\n12 22 0 0 1 a.mrc nan\n";

    fn plan(psize: PixelSize) -> CentrePlan {
        CentrePlan {
            key: 5,
            coords: vec![0, 1],
            origins: vec![Some(2), Some(3)],
            origin_pixels: None,
            psize,
            score: Some(6),
            extra: Vec::new(),
            image: None,
        }
    }

    /// A particle file of `n` rows (several test windows), comments among the rows, and
    /// `after` appended behind the loop.
    fn big_file(n: usize, after: &str) -> Vec<u8> {
        let mut text = String::from("data_optics\nloop_\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n1 1.5\n2 0.5\n\n");
        text += "data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnOriginXAngst\n_rlnOriginYAngst\n";
        text += "_rlnOpticsGroup\n_rlnMicrographName\n_rlnScore\n";
        for i in 0..n {
            if i % 997 == 5 {
                text += "# a comment among the rows\n";
            }
            let (x, y, group) = (i % 4000, (i * 7) % 3000, 1 + i % 2);
            text += &format!("{x} {y} 0.5 -1.25 {group} mic{:04}.mrc {}\n", i / 300, (i * 13) % 101);
        }
        text += after;
        text.into_bytes()
    }

    type Read = Result<(Vec<Block>, ParticleRows), StarError>;

    /// The file indexed, then scanned (the oracle), and scanned while indexed.
    fn both_ways(data: &[u8]) -> (Read, Read) {
        let plan = plan(PixelSize::ByOpticsGroup { column: 4, table: vec![(1.0, 1.5), (2.0, 0.5)] });
        let classic = index(data).and_then(|blocks| {
            let rows = scan_particles(data, blocks[1].table.as_ref().unwrap(), &plan, &keep_all)?;
            Ok((blocks, rows))
        });
        // (A file with binary bytes near an edge has no header: both ways refuse it.)
        if let Ok(header) = crate::io::star::index_header(data, LoopOf::Block("particles")) {
            assert!(header.deferred);
            assert_eq!(header.blocks[0], classic.as_ref().map(|c| c.0[0].clone()).unwrap_or(header.blocks[0].clone()));
        }
        let fused = scan_loop(data, Loop::Deferred("particles"), &plan, &keep_all, |_, _, _| {})
            .map(|(blocks, rows)| (blocks.unwrap_or_default(), rows));
        (classic, fused)
    }

    fn same_rows(a: &ParticleRows, b: &ParticleRows) {
        assert_eq!(a.keys, b.keys);
        assert_eq!(a.key_names, b.key_names);
        assert_eq!(a.optics_groups, b.optics_groups);
        assert_eq!(
            a.centres.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.centres.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(
            a.scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(a.key_psizes, b.key_psizes);
    }

    #[test]
    fn image_names_are_keyed_in_the_scan_windows_apart() {
        // One image column, each row's name index@stack, a stack per micrograph; the file big
        // enough for several windows and pieces: the keys and runs are those of the names.
        let mut text = String::from("data_particles\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnMicrographName\n");
        text += "_rlnImageName\n";
        let names: Vec<String> = (0..20_000).map(|i| format!("{:06}@Extract/m{}.mrcs", i % 300 + 1, i / 300)).collect();
        for (i, name) in names.iter().enumerate() {
            text += &format!("{} 1 mic{}.mrc {name}\n", i % 300, i / 300);
        }
        text += "1 1 mic0.mrc 000001@Extract/m0.mrcs\n"; // image 1 of m0 again, after every other
        let data = text.into_bytes();
        let blocks = index(&data).unwrap();
        let plan = CentrePlan {
            key: 2,
            coords: vec![0, 1],
            origins: vec![None, None],
            origin_pixels: None,
            psize: PixelSize::Constant(1.0),
            score: None,
            extra: Vec::new(),
            image: Some(3),
        };
        let rows = scan_particles(&data, blocks[0].table.as_ref().unwrap(), &plan, &keep_all).unwrap();
        let mut want = crate::images::ImageRows::default();
        for name in names.iter().chain(std::iter::once(&"1@Extract/m0.mrcs".to_string())) {
            want.push_name(name.as_bytes());
        }
        let every: Vec<u32> = (0..=20_000).collect(); // (the runs may break where the scan's pieces do)
        let indices_of =
            |rows: &crate::images::ImageRows| crate::images::indices_of(&rows.runs, &rows.indices, &every).unwrap();
        assert_eq!(indices_of(&rows.images), indices_of(&want));
        let keys = crate::images::image_keys(&rows.images.runs, &rows.images.indices).unwrap();
        assert_eq!(keys[0], keys[20_000]);
        assert_eq!(crate::images::distinct(&rows.images.runs, &rows.images.indices), Ok(false));
        let (runs, indices) = (&rows.images.runs, &rows.images.indices);
        let last = runs.len() - 1;
        let listed = if runs[last].consecutive() { 0 } else { 1 }; // (the last row's run: one row)
        assert_eq!(crate::images::distinct(&runs[..last], &indices[..indices.len() - listed]), Ok(true));
    }

    #[test]
    fn scanning_while_indexing_equals_indexing_then_scanning() {
        // Rows over many windows; the loop last, or followed by blank lines, comments and blocks.
        for after in [
            "",
            "\n",
            "\n# the end\n\n",
            "\ndata_more\n_rlnKey value\n\ndata_other\nloop_\n_a\n1\n2\n",
            // Comments after the last row belong to no loop; then a block with no blank line.
            "# after\n; also after\ndata_more\nloop_\n_a\n1\n",
            "# after\n# more\n",
            "   \t \n\ndata_x\n",
            "\n\n\n# c\n\n",
        ] {
            let data = big_file(20_000, after);
            assert!(data.len() > 10 * crate::io::star::WINDOW);
            let (classic, fused) = both_ways(&data);
            let ((blocks_a, rows_a), (blocks_b, rows_b)) = (classic.unwrap(), fused.unwrap());
            assert_eq!(blocks_a, blocks_b, "after {after:?}");
            assert_eq!(blocks_a[1].table.as_ref().unwrap().comment_lines, 21);
            assert_eq!(rows_a.keys.len(), 20_000);
            same_rows(&rows_a, &rows_b);
        }
        // No line end after the last row.
        let mut data = big_file(3000, "");
        data.pop();
        let (classic, fused) = both_ways(&data);
        let ((blocks_a, rows_a), (blocks_b, rows_b)) = (classic.unwrap(), fused.unwrap());
        assert_eq!(blocks_a, blocks_b);
        same_rows(&rows_a, &rows_b);
    }

    #[test]
    fn scanning_while_indexing_reports_the_same_errors() {
        // A short row deep in the loop; text after the loop that is no STAR.
        let mut data = big_file(20_000, "");
        let at = data.len() / 2;
        let line_start = at + data[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
        data.splice(line_start..line_start, b"1 2 3\n".iter().copied());
        let (classic, fused) = both_ways(&data);
        let error = classic.err().unwrap();
        assert!(matches!(error, StarError::FieldCount { expected: 7, got: 3, .. }), "{error:?}");
        assert_eq!(Some(error), fused.err());
        let data = big_file(20_000, "\nnot STAR\n");
        let (classic, fused) = both_ways(&data);
        let error = classic.err().unwrap();
        assert!(matches!(error, StarError::Unexpected { line: 20_039, .. }), "{error:?}");
        assert_eq!(Some(error), fused.err());
    }

    /// Both ways give the same blocks and rows, or the same error.
    fn agree(data: &[u8], case: &str) {
        match both_ways(data) {
            (Ok((blocks_a, rows_a)), Ok((blocks_b, rows_b))) => {
                assert_eq!(blocks_a, blocks_b, "{case}");
                same_rows(&rows_a, &rows_b);
            }
            (a, b) => assert_eq!(a.err(), b.err(), "{case}"),
        }
    }

    #[test]
    fn scanning_while_indexing_agrees_wherever_the_loop_ends_or_fails() {
        // Labels or loops right after the rows, a bad row in a later loop (not the particle
        // loop's), binary bytes after the loop.
        for after in ["_rlnLate #8\n", "loop_\n", "\ndata_x\nloop_\n_a\n_b\n1\n", "\ndata_x\n\x01\x02\n"] {
            agree(&big_file(5_000, after), &format!("after {after:?}"));
        }
        // Comments every 7 lines: some end a piece or a window, their rows in the next one.
        let text = String::from_utf8(big_file(5_000, "# after\n")).unwrap();
        let mut data = String::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            data += line;
            if i > 20 && i % 7 == 0 {
                data += "# c\n";
            }
        }
        let (classic, fused) = both_ways(data.as_bytes());
        let ((blocks_a, rows_a), (blocks_b, rows_b)) = (classic.unwrap(), fused.unwrap());
        assert!(blocks_a[1].table.as_ref().unwrap().comment_lines > 700);
        assert_eq!(blocks_a, blocks_b);
        same_rows(&rows_a, &rows_b);
        // A short row, a blank line (ending the loop early) or a new block at every few
        // kilobytes: across pieces and windows, the same rows, blocks and errors.
        let base = big_file(4_000, "\ndata_tail\n_rlnKey value\n");
        for (k, insert) in ["1 2 3\n", "\n", "data_cut\n", "# comment\n"].iter().cycle().take(60).enumerate() {
            let at = 700 + k * (base.len() - 1_400) / 60;
            let line_start = at + base[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
            let mut data = base.clone();
            data.splice(line_start..line_start, insert.bytes());
            agree(&data, &format!("{insert:?} at {line_start}"));
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
    fn a_score_column_read_for_the_centre_too_is_read_once() {
        // The score is the x coordinate, then the optics group (hand-worked: the values of
        // those columns); before, the second slot of the column stayed empty and the take
        // panicked (index out of bounds).
        let data = FILE.as_bytes();
        let blocks = index(data).unwrap();
        let table = blocks[1].table.as_ref().unwrap();
        let by_group = || PixelSize::ByOpticsGroup { column: 4, table: vec![(1.0, 1.5), (2.0, 1.5)] };
        for (score, want) in [(0, [10.0, 11.0, 12.0]), (4, [1.0, 2.0, 1.0]), (2, [3.0, 0.25, 0.0])] {
            let p = CentrePlan { score: Some(score), extra: vec![score, 6], ..plan(by_group()) };
            let rows = scan_particles(data, table, &p, &keep_all).unwrap();
            assert_eq!(rows.scores, want, "score column {score}");
            assert_eq!(rows.extra[0], want, "score column {score}");
            assert_eq!(rows.scores.len(), 3);
            // The centres as without it: 10 * 1.5 - 3 = 12, 20 * 1.5 + 4 = 34, ...
            assert_eq!(rows.centres, [12.0, 34.0, 16.25, 31.5, 18.0, 33.0], "score column {score}");
        }
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
            extra: vec![2, 0],
            image: None,
        };
        let rows = scan_particles(data, table, &p, &keep_all).unwrap();
        // Image pixel 1e4 * 5 / 50000 = 1 Å: 100 * 2 - 2 * 1 = 198, 200 * 2 + 2 = 402.
        assert_eq!(&rows.centres[..2], &[198.0, 402.0]);
        assert!(rows.centres[2].is_nan());
        assert_eq!(rows.key_psizes[0], 2.0);
        assert!(rows.key_psizes[1].is_nan());
        assert!(rows.scores.is_empty());
        // The extra columns as the file has them (an origin, a coordinate again), row by row.
        assert_eq!(rows.extra, vec![vec![2.0, 2.0], vec![100.0, 100.0]]);
    }
}
