//! What the particle job's seven `--plot` pictures cost drawn natively: three example
//! micrographs (1470 x 659: two panels, 160 kept rings, 40 rejected crosses with their
//! lines and dots, ticks, labels, a title and a legend, about 40 texts) and four histograms
//! (770 x 440: a filled outline of 100 bins, a frame, 18 tick labels, a title and an axis
//! label), the sizes and contents of the job's own pictures (benches/RESULTS.md, issue 43).
//! Drawn at their own size with anti-aliased paths (tiny-skia) and text (ab_glyph, DejaVu
//! Sans: the font the job uses), then filtered and deflated (png, fast level).
//!
//! Usage: native-pictures PATH/TO/DejaVuSans.ttf [ROUNDS]
//! Prints, per round, the thread CPU time of drawing and of encoding each kind.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use std::time::Duration;
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, Transform};

const INK: [u8; 3] = [34, 34, 34];

fn thread_cpu() -> Duration {
    let mut t = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { clock_gettime(3, &mut t) }; // CLOCK_THREAD_CPUTIME_ID
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
}

/// One line of text with its left end at `x` and baseline at `y`, blended in `rgb`.
fn text(pm: &mut Pixmap, font: &FontRef, s: &str, size: f32, x: f32, y: f32, rgb: [u8; 3]) {
    let scaled = font.as_scaled(PxScale::from(size));
    let (w, h) = (pm.width() as i32, pm.height() as i32);
    let data = pm.data_mut();
    let (mut pen, mut previous) = (x, None);
    for ch in s.chars() {
        let id = scaled.glyph_id(ch);
        if let Some(p) = previous {
            pen += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(PxScale::from(size), ab_glyph::point(pen, y));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, c| {
                let (px, py) = (b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32);
                if px >= 0 && py >= 0 && px < w && py < h {
                    let i = ((py * w + px) * 4) as usize;
                    for k in 0..3 {
                        let d = data[i + k] as f32;
                        data[i + k] = (d + (rgb[k] as f32 - d) * c).round() as u8;
                    }
                }
            });
        }
        pen += scaled.h_advance(id);
        previous = Some(id);
    }
}

fn paint(rgb: [u8; 3]) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(rgb[0], rgb[1], rgb[2], 255);
    p.anti_alias = true;
    p
}

fn stroke(width: f32) -> Stroke {
    Stroke { width, ..Stroke::default() }
}

fn axes(pm: &mut Pixmap, font: &FontRef, b: (f32, f32, f32, f32), labels: usize) {
    let ink = paint(INK);
    let frame = PathBuilder::from_rect(Rect::from_ltrb(b.0, b.1, b.2, b.3).unwrap());
    pm.stroke_path(&frame, &ink, &stroke(1.0), Transform::identity(), None);
    let mut ticks = PathBuilder::new();
    for i in 0..labels {
        let (x, y) = (b.0 + (b.2 - b.0) * i as f32 / labels as f32, b.1 + (b.3 - b.1) * i as f32 / labels as f32);
        ticks.move_to(x, b.3);
        ticks.line_to(x, b.3 + 5.0);
        ticks.move_to(b.0 - 5.0, y);
        ticks.line_to(b.0, y);
        text(pm, font, &format!("{},{:03}", i, i * 125 % 1000), 14.0, x - 15.0, b.3 + 22.0, INK);
        text(pm, font, &format!("{},{:03}", i, i * 375 % 1000), 14.0, b.0 - 52.0, y + 5.0, INK);
    }
    pm.stroke_path(&ticks.finish().unwrap(), &ink, &stroke(1.0), Transform::identity(), None);
}

fn example(font: &FontRef, picks: &[(f32, f32)]) -> Pixmap {
    let mut pm = Pixmap::new(1470, 659).unwrap();
    pm.fill(Color::WHITE);
    let boxes = [(90.0, 92.0, 750.0, 558.0), (786.0, 92.0, 1446.0, 558.0)];
    for b in boxes {
        let r = Rect::from_ltrb(b.0, b.1, b.2, b.3).unwrap();
        pm.fill_rect(r, &paint([242, 242, 242]), Transform::identity(), None);
    }
    let (mut rings, mut crosses, mut lines, mut dots) =
        (PathBuilder::new(), PathBuilder::new(), PathBuilder::new(), PathBuilder::new());
    for (k, &(x, y)) in picks.iter().enumerate() {
        if k % 5 != 0 {
            rings.push_circle(90.0 + x * 660.0, 92.0 + y * 466.0, 5.5);
            continue;
        }
        let (cx, cy) = (786.0 + x * 660.0, 92.0 + y * 466.0);
        for (dx, dy) in [(5.5, 5.5), (5.5, -5.5)] {
            crosses.move_to(cx - dx, cy - dy);
            crosses.line_to(cx + dx, cy + dy);
        }
        lines.move_to(cx, cy);
        lines.line_to(cx + 3.0, cy + 2.0);
        dots.push_circle(cx + 3.0, cy + 2.0, 3.0);
    }
    let id = Transform::identity();
    pm.stroke_path(&rings.finish().unwrap(), &paint([0x1a, 0x96, 0x41]), &stroke(1.1), id, None);
    pm.stroke_path(&lines.finish().unwrap(), &paint([255, 191, 0]), &stroke(1.2), id, None);
    pm.fill_path(&dots.finish().unwrap(), &paint([0x1a, 0x96, 0x41]), FillRule::Winding, id, None);
    pm.stroke_path(&crosses.finish().unwrap(), &paint([0xd7, 0x19, 0x1c]), &stroke(2.2), id, None);
    for b in boxes {
        axes(&mut pm, font, b, 7);
        text(&mut pm, font, "x (Å)", 15.0, (b.0 + b.2) / 2.0, b.3 + 40.0, INK);
        text(&mut pm, font, "kept: 163", 15.0, (b.0 + b.2) / 2.0 - 30.0, b.1 - 10.0, INK);
    }
    let title = "MotionCorr/job002/Movies/FoilHole_3009184_Data_20240125_048544.mrc (minimum distance 20 Å)";
    text(&mut pm, font, title, 15.0, 350.0, 30.0, INK);
    text(
        &mut pm,
        font,
        "image not found: picks on a blank frame (see the summary's micrograph images)",
        15.0,
        420.0,
        50.0,
        INK,
    );
    for (k, label) in ["kept pick", "rejected duplicate", "to the pick kept instead"].iter().enumerate() {
        text(&mut pm, font, label, 14.0, 500.0 + k as f32 * 180.0, 640.0, INK);
    }
    pm
}

fn histogram(font: &FontRef, counts: &[f32]) -> Pixmap {
    let mut pm = Pixmap::new(770, 440).unwrap();
    pm.fill(Color::WHITE);
    let (x0, y0, x1, y1) = (80.0, 40.0, 750.0, 380.0);
    let top = counts.iter().cloned().fold(1.0, f32::max);
    let mut outline = PathBuilder::new();
    outline.move_to(x0, y1);
    for (i, c) in counts.iter().enumerate() {
        let (a, b) = (i as f32 / counts.len() as f32, (i + 1) as f32 / counts.len() as f32);
        outline.line_to(x0 + (x1 - x0) * a, y1 - (y1 - y0) * c / top);
        outline.line_to(x0 + (x1 - x0) * b, y1 - (y1 - y0) * c / top);
    }
    outline.line_to(x1, y1);
    outline.close();
    let fill = paint([0x4c, 0x72, 0xb0]);
    pm.fill_path(&outline.finish().unwrap(), &fill, FillRule::Winding, Transform::identity(), None);
    axes(&mut pm, font, (x0, y0, x1, y1), 9);
    text(&mut pm, font, "Nearest-neighbour distances (last bin: that far or farther)", 17.0, 150.0, 25.0, INK);
    text(&mut pm, font, "distance to the nearest particle in the same micrograph (Å)", 15.0, 180.0, 420.0, INK);
    pm
}

/// The PNG of the picture's RGB (the alpha dropped): rows filtered and deflated at the fast level.
fn encoded(pm: &Pixmap) -> Vec<u8> {
    let rgb: Vec<u8> = pm.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, pm.width(), pm.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Up);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&rgb).unwrap();
    writer.finish().unwrap();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let font_path = args.get(1).expect("usage: native-pictures DejaVuSans.ttf [ROUNDS]");
    let rounds: usize = args.get(2).map_or(3, |r| r.parse().unwrap());
    let start = thread_cpu();
    let bytes = std::fs::read(font_path).unwrap();
    let font = FontRef::try_from_slice(&bytes).unwrap();
    let font_ms = (thread_cpu() - start).as_secs_f64() * 1e3;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f32 / 10_000.0
    };
    let picks: Vec<(f32, f32)> = (0..200).map(|_| (next(), next())).collect();
    let counts: Vec<f32> = (0..100).map(|i| (i as f32 - 30.0).abs() * 7.0 + next() * 50.0).collect();
    println!("font read and parsed: {font_ms:.2} ms of CPU");
    for round in 1..=rounds {
        let (mut draw, mut encode, mut bytes) = ([0.0; 2], [0.0; 2], 0);
        for (kind, n) in [(0, 3), (1, 4)] {
            for _ in 0..n {
                let t = thread_cpu();
                let picture = if kind == 0 { example(&font, &picks) } else { histogram(&font, &counts) };
                let drawn = thread_cpu();
                bytes += encoded(&picture).len();
                draw[kind] += (drawn - t).as_secs_f64() * 1e3;
                encode[kind] += (thread_cpu() - drawn).as_secs_f64() * 1e3;
            }
        }
        let total = draw.iter().sum::<f64>() + encode.iter().sum::<f64>();
        println!(
            "round {round}: 3 examples draw {:.1} + encode {:.1} ms; 4 histograms draw {:.1} + encode {:.1} ms; \
             all seven {total:.1} ms of CPU ({bytes} PNG bytes)",
            draw[0], encode[0], draw[1], encode[1]
        );
    }
    if let Some(dir) = args.get(3) {
        std::fs::write(format!("{dir}/native_example.png"), encoded(&example(&font, &picks))).unwrap();
        std::fs::write(format!("{dir}/native_histogram.png"), encoded(&histogram(&font, &counts))).unwrap();
    }
}
