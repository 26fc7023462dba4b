internal import CCairo
import Foundation
public import GeoIO

/// The picture a person looks at first: the scene with a translucent class overlay and a
/// legend of class names and colours, drawn with cairo and written as PNG.
public enum PreviewImage {
    /// - Parameters:
    ///   - rgb: the scene, interleaved RGB bytes, width x height.
    ///   - classes: class index per pixel; `nodata` pixels get no overlay.
    ///   - opacity: of the class colours over the scene.
    public static func write(path: String, overwrite: Bool, width: Int, height: Int, rgb: [UInt8], classes: [UInt8], nodata: UInt8 = 255,
                             colors: [RGBA], names: [String], title: String, opacity: Double = 0.45) throws {
        let output = try OutputFile(path: path, overwrite: overwrite, role: "preview")
        try write(to: output, commit: true, width: width, height: height, rgb: rgb, classes: classes, nodata: nodata,
                  colors: colors, names: names, title: title, opacity: opacity)
    }

    /// Draws into `output`'s temporary file; with `commit` false it stays there for an
    /// `OutputSet` to commit with the run's other outputs.
    public static func write(to output: OutputFile, commit: Bool, width: Int, height: Int, rgb: [UInt8], classes: [UInt8], nodata: UInt8 = 255,
                             colors: [RGBA], names: [String], title: String, opacity: Double = 0.45) throws {
        precondition(rgb.count == 3 * width * height && classes.count == width * height && colors.count == names.count)
        let path = output.url.path
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(width), Int32(height)),
              cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw GeoIOError("cannot create a \(width)x\(height) image for the preview '\(output.url.path)'")
        }
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        let a = opacity
        for y in 0..<height {
            let row = (data + y * stride).withMemoryRebound(to: UInt32.self, capacity: width) { $0 }
            for x in 0..<width {
                let i = y * width + x
                var r = Double(rgb[3 * i]), g = Double(rgb[3 * i + 1]), b = Double(rgb[3 * i + 2])
                let c = Int(classes[i])
                if classes[i] != nodata, c < colors.count {
                    r = (1 - a) * r + a * Double(colors[c].r)
                    g = (1 - a) * g + a * Double(colors[c].g)
                    b = (1 - a) * b + a * Double(colors[c].b)
                }
                row[x] = UInt32(r.rounded()) << 16 | UInt32(g.rounded()) << 8 | UInt32(b.rounded())
            }
        }
        cairo_surface_mark_dirty(surface)
        drawLegend(on: surface, width: width, height: height, colors: colors, names: names, title: title)
        let status = cairo_surface_write_to_png(surface, output.temporaryURL.path)
        guard status == CAIRO_STATUS_SUCCESS else {
            output.discard()
            throw GeoIOError("cannot write the preview '\(path)': \(String(cString: cairo_status_to_string(status)))")
        }
        if commit { try output.commit() }
    }

    /// A white box in the top-left corner: the title, then a swatch and name per class.
    private static func drawLegend(on surface: OpaquePointer, width: Int, height: Int, colors: [RGBA], names: [String], title: String) {
        let cr = cairo_create(surface)
        defer { cairo_destroy(cr) }
        let size = max(11, min(22, Double(min(width, height)) / 40))
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(cr, size)
        var extents = cairo_text_extents_t()
        var textWidth = 0.0
        for s in names + [title] {
            cairo_text_extents(cr, s, &extents)
            textWidth = max(textWidth, extents.x_advance)
        }
        let line = size * 1.5, pad = size * 0.6, swatch = size
        let boxW = pad * 3 + swatch + textWidth
        let boxH = pad * 2 + line * Double(names.count + 1)
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85)
        cairo_rectangle(cr, pad, pad, boxW, boxH)
        cairo_fill(cr)
        cairo_set_source_rgb(cr, 0, 0, 0)
        cairo_move_to(cr, pad * 2, pad * 2 + size)
        cairo_show_text(cr, title)
        for (i, (name, c)) in zip(names, colors).enumerated() {
            let y = pad * 2 + line * Double(i + 1)
            cairo_set_source_rgb(cr, Double(c.r) / 255, Double(c.g) / 255, Double(c.b) / 255)
            cairo_rectangle(cr, pad * 2, y + (line - swatch) / 2 - size * 0.2, swatch, swatch)
            cairo_fill_preserve(cr)
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2)
            cairo_set_line_width(cr, 1)
            cairo_stroke(cr)
            cairo_set_source_rgb(cr, 0, 0, 0)
            cairo_move_to(cr, pad * 3 + swatch, y + size)
            cairo_show_text(cr, name)
        }
    }
}
