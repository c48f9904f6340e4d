//! The core's EPU XML reader (`io/xml_texts.rs`) against the quick-xml crate doing the same work, in one
//! run (issue 99: the crate kept if the hand-written reader does not win by 1.2x): each EPU file given, and
//! the first one's root given 100,000 attributes, namespace declarations or prefixed attributes; each
//! reader finds the EPU elements' texts (the first child of each local name along each path, references
//! replaced), attribute names checked for repeats and prefixes resolved, as the core does. Rounds
//! interleaved; medians (benches/RESULTS.md).
//!
//! Usage: cargo run --release -p cryodedup-core --example epu_xml_vs_quick_xml -- EPU.xml... [--rounds N]

#![allow(clippy::print_stdout)] // an example that reports its timings

use std::collections::HashSet;
use std::time::Instant;

use cryodedup_core::io::xml_texts::element_texts;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

const ROOT: &str = "MicroscopeImage";
const PATHS: [&str; 13] = [
    "microscopeData/stage/Position/X",
    "microscopeData/stage/Position/Y",
    "microscopeData/optics/BeamShift",
    "microscopeData/optics/BeamShift/_x",
    "microscopeData/optics/BeamShift/_y",
    "microscopeData/optics/ImageShift",
    "microscopeData/optics/ImageShift/_x",
    "microscopeData/optics/ImageShift/_y",
    "microscopeData/optics/BeamDiameter",
    "SpatialScale/pixelSize/x/numericValue",
    "microscopeData/acquisition/acquisitionDateTime",
    "microscopeData/acquisition/camera/ReadoutArea/width",
    "microscopeData/acquisition/camera/ReadoutArea/height",
];

/// An open element in quick-xml's walk: its path from the root (None: on no path asked for), the
/// local names of its children met so far (the first of each name is the one on a path), and the
/// answer whose text it collects until its first child.
struct Open {
    path: Option<String>,
    met: HashSet<String>,
    collect: Option<usize>,
}

/// What the core gives (each path's text before its first child, and whether it has children),
/// read with quick-xml's namespace reader; an error as quick-xml's words.
fn by_quick_xml(xml: &[u8]) -> Result<Vec<Option<(String, bool)>>, String> {
    let mut reader = NsReader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    reader.resolver_mut().set_max_namespace_bindings(usize::MAX); // (its default bound, 128, refuses the crowded tags)
    let mut found: Vec<Option<(String, bool)>> = vec![None; PATHS.len()];
    let mut open: Vec<Open> = Vec::new();
    let mut buf = Vec::new();
    let mut rooted = false;
    loop {
        let (_, event) = reader.read_resolved_event_into(&mut buf).map_err(|e| e.to_string())?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let mut names = HashSet::new();
                for attribute in e.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    let (resolved, local) = reader.resolver().resolve_attribute(attribute.key);
                    if let ResolveResult::Unknown(prefix) = resolved {
                        return Err(format!("unbound prefix {}", prefix));
                    }
                    let uri = match resolved {
                        ResolveResult::Bound(ns) => ns.0.to_string(),
                        _ => String::new(),
                    };
                    if !names.insert((uri, local.as_ref().to_string())) {
                        return Err("duplicate attribute".into());
                    }
                    attribute.normalized_value(XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
                }
                let local = e.local_name().as_ref().to_string();
                let path = match open.last_mut() {
                    None => {
                        rooted = true;
                        (local == ROOT).then(String::new)
                    }
                    Some(parent) => {
                        if let Some(k) = parent.collect.take() {
                            if let Some(f) = found[k].as_mut() {
                                f.1 = true;
                            }
                        }
                        let first = parent.met.insert(local.clone());
                        parent.path.as_ref().filter(|_| first).map(|p| {
                            if p.is_empty() {
                                local.clone()
                            } else {
                                format!("{p}/{local}")
                            }
                        })
                    }
                };
                let collect = path.as_ref().and_then(|p| PATHS.iter().position(|q| q == p));
                if let Some(k) = collect {
                    found[k] = Some((String::new(), false));
                }
                if !empty {
                    open.push(Open { path, met: HashSet::new(), collect });
                } else if open.is_empty() {
                    break;
                }
            }
            Event::End(_) => {
                open.pop();
                if open.is_empty() {
                    break;
                }
            }
            Event::Text(t) => {
                let text = t.xml_content(XmlVersion::Implicit1_0);
                push(&open, &mut found, &text);
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r.into_inner())
                        .ok_or("undefined entity")?
                        .to_string(),
                };
                push(&open, &mut found, &c);
            }
            Event::CData(c) => {
                let text = c.into_inner();
                push(&open, &mut found, &text);
            }
            Event::Eof => return Err("no element found".into()),
            _ => {}
        }
        buf.clear();
    }
    if !rooted {
        return Err("no element found".into());
    }
    Ok(found)
}

fn push(open: &[Open], found: &mut [Option<(String, bool)>], text: &str) {
    if let Some(k) = open.last().and_then(|o| o.collect) {
        if let Some(f) = found[k].as_mut() {
            f.0.push_str(text);
        }
    }
}

fn by_core(xml: &[u8]) -> Result<Vec<Option<(String, bool)>>, String> {
    let document = element_texts(xml, ROOT, &PATHS).map_err(|e| e.0)?;
    Ok(document.found.into_iter().map(|f| f.map(|e| (e.text, e.has_children))).collect())
}

/// The first file's text, its root's start tag given 100,000 of `attribute(k)`.
fn crowded(text: &str, attribute: impl Fn(usize) -> String) -> Vec<u8> {
    let extra: String = (0..100_000).map(|k| format!(" {}", attribute(k))).collect();
    text.replacen(&format!("<{ROOT}"), &format!("<{ROOT}{extra}"), 1).into_bytes()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds: usize = args.iter().position(|a| a == "--rounds").map_or(11, |k| args[k + 1].parse().expect("N"));
    let files: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(k, a)| !a.starts_with("--") && (*k == 0 || args[k - 1] != "--rounds"))
        .map(|(_, a)| a)
        .collect();
    let mut inputs: Vec<(String, Vec<u8>, usize)> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("a readable EPU file");
        let name = file.rsplit('/').next().unwrap_or(file).to_string();
        inputs.push((name, bytes, 2000));
    }
    let first = String::from_utf8(inputs[0].1.clone()).expect("UTF-8");
    inputs.push(("100,000 attributes".into(), crowded(&first, |k| format!("attr{k}='{k}'")), 1));
    inputs.push(("100,000 declarations".into(), crowded(&first, |k| format!("xmlns:p{k}='urn:{k}'")), 1));
    let prefixed = |k: usize| {
        if k < 1000 {
            format!("xmlns:p{k}='urn:{k}'")
        } else {
            format!("p{}:a{k}='1'", k % 1000)
        }
    };
    inputs.push(("100,000 prefixed attributes".into(), crowded(&first, prefixed), 1));
    println!("| input | bytes | core | quick-xml 0.42 | core / quick-xml |");
    for (name, bytes, repeat) in &inputs {
        let core = by_core(bytes);
        let quick = by_quick_xml(bytes);
        let same = match (&core, &quick) {
            _ if core == quick => String::new(),
            (_, Err(e)) => format!(" (quick-xml: {e})"),
            _ => " (readings differ)".into(),
        };
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..*repeat {
                std::hint::black_box(by_core(std::hint::black_box(bytes)).ok());
            }
            ours.push(start.elapsed().as_secs_f64() / *repeat as f64);
            let start = Instant::now();
            for _ in 0..*repeat {
                std::hint::black_box(by_quick_xml(std::hint::black_box(bytes)).ok());
            }
            theirs.push(start.elapsed().as_secs_f64() / *repeat as f64);
        }
        let (a, b) = (median(ours), median(theirs));
        println!("| {name}{same} | {} | {:.1} µs | {:.1} µs | {:.2}x |", bytes.len(), a * 1e6, b * 1e6, a / b);
    }
}
