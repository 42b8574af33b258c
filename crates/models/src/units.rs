//! Sizes as people write them: `2GiB`, `500 MB` read as bytes, and bytes
//! written as `74.5 GiB` — a leaf that the configuration and the memory
//! planning both use.

/// Bytes from a size as people write it: `2GiB`, `500 MB`, `64KiB`, `1e9`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|ch: char| ch.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = (t[..split].trim(), t[split..].trim());
    let value: f64 = num.parse().map_err(|_| format!("cannot read {text:?} as a size (e.g. 2GiB, 500MB)"))?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)")),
    };
    let b = value * scale;
    if !(b.is_finite() && b >= 1.0) {
        return Err(format!("{text:?} is not a positive size"));
    }
    Ok(b as u64)
}

/// Bytes as a person writes them: `512 B`, `8.0 KiB`, `74.5 GiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[u]) }
}
