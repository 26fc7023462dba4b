/// An error from GDAL/OGR/OSR, or from this module's own checks, worded for the person running
/// the tool: one line that names the file (or option) and what is wrong.
public struct GeoIOError: Error, CustomStringConvertible, Sendable {
    /// The user-facing sentence, e.g. "cannot open 'x.tif': not a raster GDAL recognises".
    public let message: String
    /// GDAL's CPLErrorNum when the error came from GDAL, else nil.
    public let gdalCode: Int32?
    /// The GDAL function that failed, when there is one (for logs and bug reports).
    public let call: String?
    /// What went wrong, for a caller to switch on (a command line names its option by it).
    public let kind: Kind

    /// Kinds a caller may act on; everything else is `.other`.
    public enum Kind: Sendable, Equatable {
        case other
        /// GDAL does not recognise the file as a raster (CPLE_OpenFailed on open).
        case notRecognised
        /// A chosen band is not in the raster.
        case noSuchBand(band: Int, bandCount: Int)
        /// Neither one band nor three were chosen.
        case bandChoice(count: Int)
        /// The raster has no CRS or geotransform where one is needed.
        case noGeoreferencing
    }

    public init(_ message: String, gdalCode: Int32? = nil, call: String? = nil, kind: Kind = .other) {
        self.message = message
        self.gdalCode = gdalCode
        self.call = call
        self.kind = kind
    }

    public var description: String { message }
}

/// A problem with an output path, told in terms of the output's role ("class map",
/// "probabilities", "objects"), which a command line words with the option that named it.
public struct OutputError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case emptyName
        /// The path ends in "/".
        case folderName
        /// The path is an existing folder.
        case isFolder
        case noFolder
        case folderNotWritable
        /// The file exists and overwriting was not asked for.
        case exists
        /// The path is a file the run reads (`role`: "the scene", "the pipeline file", ...).
        case isInput(role: String, input: String)
        /// Two outputs (or an output and a side file, `side`) lead to one file.
        case sameFile(otherOutput: String, side: String?)
        /// Another process holds the output's lock.
        case busy(holder: String?)
        case cannotLock(detail: String)
        /// A file appeared at the final path while the run worked, without overwrite.
        case appeared
        /// The finished file vanished before it could be put in place.
        case gone
        case cannotMove(detail: String)
        /// The file name's extension is not one of the formats this output is written in.
        case format(accepted: [String])
    }

    public let kind: Kind
    /// The output's role, as the caller named it.
    public let output: String
    public let path: String

    public init(_ kind: Kind, output: String, path: String) {
        self.kind = kind; self.output = output; self.path = path
    }

    public var description: String {
        let what = "the \(output) '\(path)'"
        switch kind {
        case .emptyName: return "the \(output): the file name is empty"
        case .folderName: return "\(what) names a folder; give a file name"
        case .isFolder: return "\(what) is a folder; give a file name"
        case .noFolder: return "the folder of \(what) does not exist"
        case .folderNotWritable: return "cannot write to the folder of \(what)"
        case .exists: return "\(what) exists and replacing it was not asked for"
        case let .isInput(role, input): return "\(what) is \(role) '\(input)'; inputs are never written"
        case let .sameFile(other, side): return "the \(other) and the \(output) both lead to '\(side ?? path)'; give each output its own file"
        case let .busy(holder): return "\(what) is being written by another landscribe run\(holder.map { " (process \($0))" } ?? ""); wait for it to end or choose another name"
        case let .cannotLock(detail): return "cannot lock \(what): \(detail)"
        case .appeared: return "\(what) appeared while this run was writing it; it was left as it is"
        case .gone: return "the finished file for \(what) is gone (was its folder removed?)"
        case let .cannotMove(detail): return "cannot move the finished \(output) into place at '\(path)': \(detail)"
        case let .format(accepted): return "\(what) is not a format the \(output) is written in; name it \(accepted.map { "." + $0 }.joined(separator: " or "))"
        }
    }
}
