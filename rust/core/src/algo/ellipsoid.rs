//! Exclusion in each particle's own frame (`--min-dist-ellipsoid`): an ellipsoid with
//! semi-axes `a`, `b`, `c` (Å) along the particle's x, y and z, turned by its pose.
//!
//! Frames (docs/design.md section 9): RELION's matrix `A` of a particle (`Euler_angles2matrix`
//! of rot, tilt, psi, or the rotation by a rotation vector, `pose.rs`) maps its own (the
//! reference's) coordinates into the tomogram's: a point `r` of the particle lies at
//! `centre + A r` (RELION's `ParticleSet::getMatrix4x4`, "particle space to tomogram space";
//! its projector reads the reference at `A^-1` of each image coordinate). So an offset `d`
//! from the particle's centre, in the tomogram's frame, is `r = A^T d` in the particle's, and
//! lies inside its ellipsoid when `(r_x / a)^2 + (r_y / b)^2 + (r_z / c)^2 <= 1`, that is
//! `d^T S d <= 1` with `S = A diag(1/a^2, 1/b^2, 1/c^2) A^T`, computed once per particle.
//!
//! The rule: two particles conflict when **either** one's centre lies inside the other's
//! ellipsoid. STOPGAP's `sg_motl_distance_clean_xyz` (a box) and cryoCAT's `dist_mask` (any
//! mask) test only the kept particle's shape, walking by score, so whether a pair conflicts
//! there depends on which of the two ranks first; "either" makes the conflicts a property of
//! the pair, whatever the scores, so the greedy walk, remove-entirely and the consensus
//! masks mean what they mean with a sphere. For two particles of one orientation (the same
//! particle picked twice) the three readings agree: the ellipsoid is symmetric under `d -> -d`.

use crate::algo::points::SAME_CENTRE;
use crate::algo::pose::{matrix, Mat3, PoseKind};
use crate::errors::{DedupError, MAX_COORDINATE};

/// Quotients within this of 1 count as on the ellipsoid (inside): the rotation carries
/// rounding errors of ~1e-16, and a pick set exactly on the surface must be inside (`<=`,
/// as `--min-dist`'s sphere is inclusive).
const ON_SURFACE: f64 = 1e-9;

/// The ellipsoid of each particle: its pose and the semi-axes shared by all.
#[derive(Clone, Copy, Debug)]
pub struct EllipsoidTest<'a> {
    /// Three numbers per particle, row-major, read as `kind` says.
    pub poses: &'a [f64],
    pub kind: PoseKind,
    /// Semi-axes in Å along the particle's x, y and z.
    pub semi_axes: [f64; 3],
}

/// One particle's ellipsoid as the symmetric matrix `S` (its six distinct entries
/// `s_xx, s_yy, s_zz, s_xy, s_xz, s_yz`) of the test `d^T S d <= 1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape([f64; 6]);

impl<'a> EllipsoidTest<'a> {
    /// A test of `poses` (three numbers per particle) with `semi_axes` in Å, each above 0 and
    /// at most [`MAX_COORDINATE`]; below [`SAME_CENTRE`] a semi-axis is taken as that (copies
    /// at one centre always conflict).
    pub fn new(poses: &'a [f64], kind: PoseKind, semi_axes: [f64; 3]) -> Result<Self, DedupError> {
        if !semi_axes.iter().all(|&a| a > 0.0 && a <= MAX_COORDINATE) {
            return Err(DedupError::SemiAxes(semi_axes));
        }
        Ok(EllipsoidTest { poses, kind, semi_axes })
    }

    /// The radius to search: the largest semi-axis (the ellipsoid lies within that sphere).
    pub fn reach(&self) -> f64 {
        self.semi_axes.iter().fold(SAME_CENTRE, |a, &b| a.max(b))
    }

    /// Checks the poses: three numbers per each of `n` particles, all finite.
    pub fn check(&self, n: usize) -> Result<(), DedupError> {
        if self.poses.len() != 3 * n {
            return Err(DedupError::Length { what: "poses", expected: n, got: self.poses.len() / 3 });
        }
        match self.poses.iter().position(|c| !c.is_finite()) {
            Some(index) => Err(DedupError::NonFinitePose { index: index / 3 }),
            None => Ok(()),
        }
    }

    /// The ellipsoid of particle `i` (global index).
    pub fn shape(&self, i: u32) -> Shape {
        let k = i as usize * 3;
        let a = matrix(self.kind, [self.poses[k], self.poses[k + 1], self.poses[k + 2]]);
        Shape::of(&a, self.semi_axes)
    }
}

impl Shape {
    /// `S = A diag(1/a^2, 1/b^2, 1/c^2) A^T`: column k of `A` is the particle's axis k in the tomogram.
    pub fn of(a: &Mat3, semi_axes: [f64; 3]) -> Self {
        let weight = semi_axes.map(|s| 1.0 / (s.max(SAME_CENTRE) * s.max(SAME_CENTRE)));
        let entry = |m: usize, n: usize| (0..3).map(|k| a[m][k] * a[n][k] * weight[k]).sum::<f64>();
        Shape([entry(0, 0), entry(1, 1), entry(2, 2), entry(0, 1), entry(0, 2), entry(1, 2)])
    }

    /// `d^T S d`: at most 1 where the offset `d` (tomogram frame, Å) lies inside the ellipsoid.
    #[inline]
    pub fn quotient(&self, d: [f64; 3]) -> f64 {
        let [xx, yy, zz, xy, xz, yz] = self.0;
        let [x, y, z] = d;
        xx * x * x + yy * y * y + zz * z * z + 2.0 * (xy * x * y + xz * x * z + yz * y * z)
    }

    /// Whether the offset `d` lies inside (or on) the ellipsoid.
    #[inline]
    pub fn holds(&self, d: [f64; 3]) -> bool {
        self.quotient(d) <= 1.0 + ON_SURFACE
    }
}

/// Whether two particles with ellipsoids `a` and `b`, their centres `d` apart, conflict:
/// either centre inside the other's ellipsoid.
#[inline]
pub fn conflict(a: &Shape, b: &Shape, d: [f64; 3]) -> bool {
    a.holds(d) || b.holds(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROD: [f64; 3] = [20.0, 20.0, 60.0]; // a rod 120 Å long along the particle's z

    fn test(poses: &[f64]) -> EllipsoidTest<'_> {
        EllipsoidTest::new(poses, PoseKind::RelionEulerDegrees, ROD).unwrap()
    }

    #[test]
    fn along_the_long_axis_conflicts_across_the_short_one_not() {
        // By hand: tilt 90 (rot, psi 0) gives A = [[0, 0, -1], [0, 1, 0], [1, 0, 0]], so the
        // particle's z lies along the tomogram's -x. 50 Å along x is 50 Å along its z (inside:
        // 50 < 60); 50 Å along z is 50 Å along its x (outside: 50 > 20).
        let poses = [0.0, 90.0, 0.0];
        let shape = test(&poses).shape(0);
        assert!(shape.holds([50.0, 0.0, 0.0]) && shape.holds([-60.0, 0.0, 0.0]));
        assert!(!shape.holds([0.0, 0.0, 50.0]) && !shape.holds([0.0, 50.0, 0.0]));
        assert!(shape.holds([0.0, 0.0, 20.0]) && !shape.holds([0.0, 0.0, 20.001]));
        assert!(!shape.holds([60.001, 0.0, 0.0]));
    }

    #[test]
    fn either_centre_inside_the_other_is_a_conflict() {
        // Particle 0 upright (its z along the tomogram's z), particle 1 lying along x. An offset
        // of 50 Å along x is across particle 0's short axis but along particle 1's long one.
        let poses = [0.0, 0.0, 0.0, 0.0, 90.0, 0.0];
        let t = test(&poses);
        let (upright, lying) = (t.shape(0), t.shape(1));
        let d = [50.0, 0.0, 0.0];
        assert!(!upright.holds(d) && lying.holds(d));
        assert!(conflict(&upright, &lying, d) && conflict(&lying, &upright, d));
        assert!(!conflict(&upright, &upright, d));
    }

    #[test]
    fn a_sphere_is_the_sphere_whatever_the_pose() {
        let poses = [37.0, 81.0, -140.0];
        let t = EllipsoidTest::new(&poses, PoseKind::RelionEulerDegrees, [30.0; 3]).unwrap();
        let shape = t.shape(0);
        assert!(shape.holds([0.0, 29.999, 0.0]) && shape.holds([17.32, 17.32, 17.32]));
        assert!(!shape.holds([17.33, 17.33, 17.33]) && !shape.holds([30.001, 0.0, 0.0]));
        assert!((t.reach() - 30.0).abs() < 1e-15);
    }

    #[test]
    fn copies_at_one_centre_conflict_and_bad_axes_are_refused() {
        let t = test(&[0.0, 0.0, 0.0]);
        assert!(t.shape(0).holds([0.0; 3]));
        for bad in [[0.0, 1.0, 1.0], [f64::NAN, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, f64::INFINITY]] {
            assert!(EllipsoidTest::new(&[], PoseKind::RelionEulerDegrees, bad).is_err());
        }
        assert!(t.check(2).is_err() && t.check(1).is_ok());
        assert!(test(&[0.0, f64::NAN, 0.0]).check(1).is_err());
    }
}
