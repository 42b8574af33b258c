//! XDMF 3 sidecars: a small XML file next to an HDF5 file that tells
//! ParaView (and VisIt) how to read its fields — the grid (a 2D
//! co-rectilinear mesh given by origin and spacing), one temporal
//! collection per series whose frames are hyperslabs of the HDF5 dataset,
//! and the single fields on one more grid.

use std::fmt::Write;

use crate::GridInfo;

/// Opens a uniform grid element (indented by `pad`) with its topology and
/// geometry; the caller adds attributes and closes it.
fn grid_header(out: &mut String, pad: &str, name: &str, g: GridInfo) {
    let _ = writeln!(out, "{pad}<Grid Name=\"{name}\" GridType=\"Uniform\">");
    if g.is_volume() {
        let _ =
            writeln!(out, "{pad}  <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"{} {} {}\"/>", g.nz, g.ny, g.nx);
        let _ = writeln!(out, "{pad}  <Geometry GeometryType=\"ORIGIN_DXDYDZ\">");
        let _ = writeln!(out, "{pad}    <DataItem Format=\"XML\" Dimensions=\"3\">0 0 0</DataItem>");
        let _ = writeln!(
            out,
            "{pad}    <DataItem Format=\"XML\" Dimensions=\"3\">{:e} {:e} {:e}</DataItem>",
            g.dz, g.dy, g.dx
        );
    } else {
        let _ = writeln!(out, "{pad}  <Topology TopologyType=\"2DCoRectMesh\" Dimensions=\"{} {}\"/>", g.ny, g.nx);
        let _ = writeln!(out, "{pad}  <Geometry GeometryType=\"ORIGIN_DXDY\">");
        let _ = writeln!(out, "{pad}    <DataItem Format=\"XML\" Dimensions=\"2\">0 0</DataItem>");
        let _ = writeln!(out, "{pad}    <DataItem Format=\"XML\" Dimensions=\"2\">{:e} {:e}</DataItem>", g.dy, g.dx);
    }
    let _ = writeln!(out, "{pad}  </Geometry>");
}

/// The sidecar for `h5_name` (a file name relative to the sidecar) holding
/// `series` (name and the time of each frame) and single `fields`.
pub fn document(h5_name: &str, g: GridInfo, series: &[(String, Vec<f64>)], fields: &[String]) -> String {
    let mut out = String::new();
    out.push_str(
        "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n<Xdmf Version=\"3.0\">\n  <Domain>\n",
    );
    // a frame's dimensions, slowest first, and the zeros and ones of its
    // hyperslab (start, stride) after the frame's own index
    let dims = if g.is_volume() { format!("{} {} {}", g.nz, g.ny, g.nx) } else { format!("{} {}", g.ny, g.nx) };
    let rank = if g.is_volume() { 4 } else { 3 };
    let (zeros, ones) = (" 0".repeat(rank - 1), " 1".repeat(rank));
    for (name, times) in series {
        let _ = writeln!(out, "    <Grid Name=\"{name}\" GridType=\"Collection\" CollectionType=\"Temporal\">");
        let nt = times.len();
        for (k, t) in times.iter().enumerate() {
            grid_header(&mut out, "      ", &format!("frame {k}"), g);
            let _ = writeln!(out, "        <Time Value=\"{t:e}\"/>");
            let _ = writeln!(out, "        <Attribute Name=\"{name}\" AttributeType=\"Scalar\" Center=\"Node\">");
            let _ = writeln!(out, "          <DataItem ItemType=\"HyperSlab\" Dimensions=\"{dims}\">");
            let _ = writeln!(
                out,
                "            <DataItem Dimensions=\"3 {rank}\" Format=\"XML\">{k}{zeros}{ones} 1 {dims}</DataItem>"
            );
            let _ = writeln!(
                out,
                "            <DataItem Format=\"HDF\" NumberType=\"Float\" Precision=\"8\" Dimensions=\"{nt} {dims}\">{h5_name}:/{name}</DataItem>"
            );
            out.push_str("          </DataItem>\n        </Attribute>\n      </Grid>\n");
        }
        out.push_str("    </Grid>\n");
    }
    if !fields.is_empty() {
        grid_header(&mut out, "    ", "fields", g);
        for name in fields {
            let _ = writeln!(out, "      <Attribute Name=\"{name}\" AttributeType=\"Scalar\" Center=\"Node\">");
            let _ = writeln!(
                out,
                "        <DataItem Format=\"HDF\" NumberType=\"Float\" Precision=\"8\" Dimensions=\"{dims}\">{h5_name}:/{name}</DataItem>"
            );
            out.push_str("      </Attribute>\n");
        }
        out.push_str("    </Grid>\n");
    }
    out.push_str("  </Domain>\n</Xdmf>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_balance_and_frames_point_at_their_slab() {
        let g = GridInfo::plane(4, 3, 0.5, 0.25);
        let doc = document("a.h5", g, &[("w".into(), vec![0.0, 0.5])], &["truth".into()]);
        for tag in ["Xdmf", "Domain", "Grid", "Geometry", "Attribute", "DataItem"] {
            let open = doc.matches(&format!("<{tag} ")).count() + doc.matches(&format!("<{tag}>")).count();
            let close = doc.matches(&format!("</{tag}>")).count();
            assert_eq!(open, close, "<{tag}> balanced in\n{doc}");
        }
        assert!(doc.contains(">1 0 0 1 1 1 1 3 4<"), "{doc}");
        assert!(doc.contains("Dimensions=\"2 3 4\">a.h5:/w<"), "{doc}");
        assert!(doc.contains("<Time Value=\"5e-1\"/>"), "{doc}");
        assert!(doc.contains("a.h5:/truth"));
    }
}
