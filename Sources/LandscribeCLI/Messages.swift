import GeoIO
import Instances
import ModelHub
import Pipeline
import Segmentation
import Tiling

/// How the command line words the libraries' errors: the library says what is wrong in its own
/// terms (an output's role, a band, a truth value); this adds the option that the user changes.
enum Messages {
    /// The option that names each output role.
    static let options = [OutputRole.classMap: "-o", OutputRole.probabilities: "--probabilities", OutputRole.preview: "--preview",
                          OutputRole.objects: "-o", OutputRole.geoPackage: "--gpkg", Predict.dumpRole: "--dump",
                          OutputRole.style: "-o", OutputRole.stacItem: "-o", OutputRole.confidence: "--confidence",
                          OutputRole.statistics: "--stats", OutputRole.vectors: "--vectors"]

    static func line(for error: any Error) -> String {
        switch error {
        case let e as OutputError: return output(e)
        case let e as GeoIOError:
            switch e.kind {
            case .noSuchBand, .bandChoice: return "option --bands: \(e.message)"
            case .noGeoreferencing: return e.message.replacingOccurrences(of: "ask for pixel coordinates to write them in pixels", with: "pass --pixel-coordinates to write them in pixel coordinates")
            default: return e.message
            }
        case let e as VocabularyError: return "option --classes: \(e.description)"
        case let e as TileGrid.InvalidParameters:
            switch e.kind {
            case .tileSize: return "option --tile: \(e.description)"
            case .overlap: return "option --overlap: \(e.description)"
            case .emptyScene: return e.description
            }
        case let e as ModelStoreError:
            switch e {
            case let .notCached(id, revision, path):
                let revisionFlag = revision == ModelStore.defaultRevision ? "" : " --revision \(revision)"
                return "model '\(id)' is not in the cache (\(path)); run 'landscribe model fetch \(id)\(revisionFlag)' "
                    + "on a machine with internet access, or pass --model DIR with a Hugging Face layout folder "
                    + "(\(ModelStore.requiredFiles.joined(separator: ", ")))"
            case let .hubUnreachable(hub, detail):
                return "cannot reach the model hub at \(hub) (\(detail)); this machine may have no internet access: "
                    + "copy a Hugging Face layout folder (\(ModelStore.requiredFiles.joined(separator: ", "))) "
                    + "from a machine that has, and pass --model DIR"
            case .accessDenied(_, _, _, _, _, tokenSent: false):
                return e.description + " (or pass --token)"
            default: return e.description
            }
        case let e as EvaluationError:
            switch e {
            case let .unknownUnseenClass(name, prediction, classes):
                return "option --unseen: '\(name)' is not a class of '\(prediction)' or of the truth mapping (classes: \(classes.joined(separator: ", ")))"
            case let .unmappedTruthValue(value, truth, n):
                let how = n.map { "the prediction has \($0) classes (values 0-\($0 - 1)); map truth values with --classes-truth" } ?? "it is not in --classes-truth"
                return "truth value \(value) in '\(truth)' has no class: \(how), or skip it with --ignore \(value)"
            }
        case MappingError.noGeoreferencing(let scene):
            return "'\(scene)' has no CRS or georeferencing: pass --pixel-coordinates to get objects in pixel coordinates"
        default:
            return String(describing: error)
        }
    }

    static func output(_ e: OutputError) -> String {
        let beside = [OutputRole.style, OutputRole.stacItem, OutputRole.confidence].contains(e.output) ? " (the \(e.output) beside the class map)" : ""
        let option = "option \(options[e.output] ?? e.output)\(beside)"
        let path = e.path
        switch e.kind {
        case .emptyName: return "\(option): the file name is empty"
        case .folderName: return "\(option): '\(path)' names a folder; give a file name"
        case .isFolder: return "\(option): '\(path)' is a folder; give a file name"
        case .noFolder: return "\(option): the folder of '\(path)' does not exist"
        case .folderNotWritable: return "\(option): cannot write to the folder of '\(path)'"
        case .exists: return "\(option): '\(path)' exists; pass --overwrite to replace it"
        case let .isInput(role, input): return "\(option): '\(path)' is \(role) '\(input)'; landscribe never writes over its inputs"
        case let .sameFile(other, side):
            let first = options[other] ?? other, second = options[e.output] ?? e.output
            let who = first == second && other == e.output ? "option \(first) and its side file" : "options \(first) and \(second)"
            return "\(who) name the same file '\(side ?? path)'; give each output its own file"
        case let .format(accepted):
            return "\(option): '\(path)' is not a format this option writes; name it \(accepted.map { "." + $0 }.joined(separator: " or "))"
        case let .busy(holder):
            return "\(option): '\(path)' is being written by another landscribe run\(holder.map { " (process \($0))" } ?? ""); wait for it to end or choose another name"
        default: return "\(option): \(e.description)"
        }
    }
}
