//! upfd's session tables seen from outside the process: its maps found
//! among its file descriptors and counted (cp-bench's churn, e2e-bench's
//! check of where the sessions went).

use anyhow::{ensure, Context, Result};
use upf_abi::{DownlinkEntry, UplinkEntry};

/// The entries of upfd's UPLINK and DOWNLINK hash maps: the maps are found
/// among the process's file descriptors (not by name system-wide: other
/// daemons may run) and their keys walked.
pub fn map_entries(pid: u32) -> Result<(usize, usize)> {
    let (h, _) = session_entries(pid)?;
    Ok(h)
}

/// The slots of a mapped direct table (`UL_TABLE`, `DL_TABLE`) that hold
/// a key: its second word is not 0 (read through a read-only mapping).
fn direct_slots(map: &aya::maps::MapData, name: &str) -> Result<usize> {
    use std::os::fd::{AsFd, AsRawFd};
    let info = map.info()?;
    let (n, size) = (info.max_entries() as usize, info.value_size() as usize);
    ensure!(size == 64, "{name}: {size}-byte slots, expected 64");
    let bytes = n * size;
    let fd = map.fd().as_fd().as_raw_fd();
    // SAFETY: a fresh read-only shared mapping of an mmapable array map's
    // fd, unmapped below; the kernel checks the length.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    ensure!(
        p != libc::MAP_FAILED,
        "mapping {name}: {}",
        std::io::Error::last_os_error()
    );
    let words = p as *const u32;
    // SAFETY: inside the mapping (n slots of 16 words); volatile, since
    // upfd writes it concurrently.
    let held = (0..n)
        .filter(|i| unsafe { std::ptr::read_volatile(words.add(i * 16 + 1)) } != 0)
        .count();
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, bytes) };
    Ok(held)
}

/// The entries of upfd's session tables: (UPLINK, DOWNLINK) hash entries and
/// (UL_TABLE, DL_TABLE) occupied direct slots.
pub fn session_entries(pid: u32) -> Result<((usize, usize), (usize, usize))> {
    use aya::maps::{HashMap, Map, MapData, MapInfo};
    let mut ids = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let Ok(text) = std::fs::read_to_string(e?.path()) else {
            continue;
        };
        if let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("map_id:"))
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            ids.insert(id);
        }
    }
    let (mut up, mut down, mut ul, mut dl) = (None, None, None, None);
    for id in ids {
        let name = MapInfo::from_id(id)
            .with_context(|| format!("map {id}"))?
            .name_as_str()
            .map(str::to_string);
        let map = || -> Result<Map> {
            Ok(Map::from_map_data(
                MapData::from_id(id).with_context(|| format!("map {id}"))?,
            )?)
        };
        match name.as_deref() {
            Some("UPLINK") => {
                let m: HashMap<MapData, upf_abi::UplinkKey, UplinkEntry> =
                    HashMap::try_from(map()?)?;
                up = Some(m.keys().count());
            }
            Some("DOWNLINK") => {
                let m: HashMap<MapData, upf_abi::DownlinkKey, DownlinkEntry> =
                    HashMap::try_from(map()?)?;
                down = Some(m.keys().count());
            }
            Some(n @ ("UL_TABLE" | "DL_TABLE")) => {
                let d = MapData::from_id(id).with_context(|| format!("map {id}"))?;
                let held = direct_slots(&d, n)?;
                if n == "UL_TABLE" {
                    ul = Some(held);
                } else {
                    dl = Some(held);
                }
            }
            _ => {}
        }
    }
    Ok((
        (
            up.context("upfd holds no UPLINK map")?,
            down.context("upfd holds no DOWNLINK map")?,
        ),
        (
            ul.context("upfd holds no UL_TABLE map")?,
            dl.context("upfd holds no DL_TABLE map")?,
        ),
    ))
}
