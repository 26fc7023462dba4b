public import Foundation

extension OutputRole {
    /// The area table (`--stats`).
    public static let statistics = "statistics"
}

/// The area-per-class table of a class map: per class its pixels, share of the valid pixels and
/// area on the WGS 84 ellipsoid (`PixelAreas`: each pixel row's true area, right in projected,
/// Web Mercator and longitude/latitude grids). In `segment --json` and in `--stats FILE.csv`
/// or `FILE.json` (docs/segment.md).
public enum ClassStatistics {
    public static func rows(classes: [OutputClass], pixels: [Int], areas: [Double]?) -> [SegmentSummary.ClassPixels] {
        let valid = pixels.reduce(0, +)
        return classes.indices.map { i in
            SegmentSummary.ClassPixels(name: classes[i].name, pixels: pixels[i], share: valid > 0 ? Double(pixels[i]) / Double(valid) : 0,
                                       areaM2: areas?[i])
        }
    }

    /// `class,value,pixels,share,area_m2,area_ha`, one line per class and a `total` line; the
    /// areas are empty for a scene without a CRS; names with a comma or quote are quoted.
    public static func csv(_ rows: [SegmentSummary.ClassPixels]) -> String {
        func quoted(_ s: String) -> String {
            s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func area(_ a: Double?) -> (String, String) { a.map { (String(format: "%.2f", $0), String(format: "%.4f", $0 / 10_000)) } ?? ("", "") }
        var lines = ["class,value,pixels,share,area_m2,area_ha"]
        for (i, r) in rows.enumerated() {
            let (m2, ha) = area(r.areaM2)
            lines.append("\(quoted(r.name)),\(i),\(r.pixels),\(String(format: "%.6f", r.share)),\(m2),\(ha)")
        }
        let total = rows.contains { $0.areaM2 == nil } ? nil : rows.reduce(0.0) { $0 + ($1.areaM2 ?? 0) }
        let (m2, ha) = area(total)
        lines.append("total,,\(rows.reduce(0) { $0 + $1.pixels }),\(rows.isEmpty ? "0" : "1.000000"),\(m2),\(ha)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{"classes": [{"name", "value", "pixels", "share", "area_m2", "area_ha"}], "total": {...}}`.
    public static func json(_ rows: [SegmentSummary.ClassPixels]) throws -> Data {
        func entry(_ name: String, _ value: Int?, _ pixels: Int, _ share: Double, _ area: Double?) -> [String: Any] {
            ["name": name, "value": value.map { $0 as Any } ?? NSNull(), "pixels": pixels, "share": share,
             "area_m2": area.map { $0 as Any } ?? NSNull(), "area_ha": area.map { ($0 / 10_000) as Any } ?? NSNull()]
        }
        let total = rows.contains { $0.areaM2 == nil } ? nil : rows.reduce(0.0) { $0 + ($1.areaM2 ?? 0) }
        let object: [String: Any] = [
            "classes": rows.enumerated().map { entry($1.name, $0, $1.pixels, $1.share, $1.areaM2) },
            "total": entry("total", nil, rows.reduce(0) { $0 + $1.pixels }, rows.isEmpty ? 0 : 1, total),
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }
}
