// Model resolution: where a model argument points, and the local cache of downloaded models.
//
// A model is a folder in Hugging Face layout (config.json, model.safetensors, vocab.json,
// merges.txt). A model argument is such a folder, or a hub id `owner/name` that is looked up in the
// cache: `<root>/models/owner--name/<revision>/`, where the root is `$LANDSCRIBE_CACHE` or
// `~/.cache/landscribe`. `ModelDownloader` (ModelDownloader.swift) fills the cache. docs/model.md.

public import Foundation

/// A Hugging Face model id, `owner/name`: letters, digits, `-`, `_` and `.` on each side of
/// exactly one `/`, neither side empty nor `.`/`..`.
public struct ModelID: Sendable, Hashable, CustomStringConvertible {
    public let owner: String
    public let name: String

    /// Validates `string`; throws `ModelStoreError.invalidID` saying what is wrong.
    public init(_ string: String) throws {
        let parts = string.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ModelStoreError.invalidID(string, reason: "a model id is 'owner/name' with exactly one '/'")
        }
        for part in parts {
            if let reason = ModelID.problem(with: part) {
                throw ModelStoreError.invalidID(string, reason: reason)
            }
        }
        owner = String(parts[0])
        name = String(parts[1])
    }

    public var description: String { "\(owner)/\(name)" }

    /// The cache folder name, as the hub's own cache spells it: `owner--name`.
    public var cacheFolderName: String { "\(owner)--\(name)" }

    /// What is wrong with one side of an id, or a revision; nil when it is fine.
    static func problem(with part: Substring) -> String? {
        if part.isEmpty { return "an empty part" }
        if part == "." || part == ".." || part.contains("..") { return "'..' is not allowed" }
        let allowed = part.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "-_.".unicodeScalars.contains(scalar))
        }
        return allowed ? nil : "only letters, digits, '-', '_' and '.' are allowed"
    }
}

/// Everything that can go wrong resolving or downloading a model, each with a one-line message
/// that names the id, file or folder.
public enum ModelStoreError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// `id` is not `owner/name`.
    case invalidID(String, reason: String)
    /// A revision that cannot be a cache folder name.
    case invalidRevision(String)
    /// `spec` is neither an existing folder nor a valid id.
    case invalidSpec(String, reason: String)
    /// A model folder lacks a required file.
    case missingFile(directory: String, file: String)
    /// `spec` names a file, not a folder.
    case notADirectory(String)
    /// The id is valid but has not been fetched.
    case notCached(id: String, revision: String, path: String)
    /// The hub answered a status other than 200/206 for one file.
    case httpStatus(id: String, file: String, revision: String, status: Int)
    /// The hub refused a file with 401 or 403: a gated or private model (or none by that id);
    /// `tokenSent` tells whether an access token went with the request. `hub` is the model's page.
    case accessDenied(id: String, file: String, revision: String, status: Int, page: String, tokenSent: Bool)
    /// No connection to the hub could be made at all.
    case hubUnreachable(hub: String, detail: String)
    /// The connection broke during a transfer; the partial file is kept for a resume.
    case interrupted(id: String, file: String, bytesDone: Int64, bytesTotal: Int64?, detail: String)
    /// The downloaded file has another size than the hub announced.
    case sizeMismatch(id: String, file: String, expected: Int64, actual: Int64)
    /// The downloaded file's SHA-256 differs from the hub's.
    case checksumMismatch(id: String, file: String, expected: String, actual: String)
    /// Another process is fetching the same model and revision.
    case busy(id: String, revision: String, lock: String)
    /// A file-system operation on the cache failed.
    case io(path: String, detail: String)
    /// A downloaded file is not what its name says (an HTML page saved as model.safetensors).
    case invalidContent(id: String, file: String, reason: String)
    /// LANDSCRIBE_HUB_URL is set to something that is not an http(s) address.
    case invalidHubURL(String)

    public var description: String {
        switch self {
        case let .invalidID(id, reason):
            return "invalid model id '\(id)': \(reason)"
        case let .invalidRevision(revision):
            return "invalid revision '\(revision)': only letters, digits, '-', '_' and '.' are allowed"
        case let .invalidSpec(spec, reason):
            return "model '\(spec)' is neither a folder nor a model id (\(reason))"
        case let .missingFile(directory, file):
            return "model folder '\(directory)' has no '\(file)' (a Hugging Face layout folder has \(ModelStore.requiredFiles.joined(separator: ", ")))"
        case let .notADirectory(path):
            return "model '\(path)' is a file, not a folder in Hugging Face layout"
        case let .notCached(id, revision, path):
            let at = revision == ModelStore.defaultRevision ? "" : " at revision '\(revision)'"
            return "model '\(id)'\(at) is not in the cache (\(path)); fetch it on a machine with internet access, "
                + "or use a folder in Hugging Face layout (\(ModelStore.requiredFiles.joined(separator: ", ")))"
        case let .httpStatus(id, file, revision, status) where status == 404:
            return "model '\(id)' has no file '\(file)' at revision '\(revision)' (HTTP 404)"
        case let .httpStatus(id, file, revision, status) where status == 401 || status == 403:
            return "model '\(id)': the hub refused '\(file)' at revision '\(revision)' (HTTP \(status)); "
                + "the model may not exist, or be private or gated"
        case let .accessDenied(id, file, revision, status, page, tokenSent):
            let refused = "model '\(id)': the hub refused '\(file)' at revision '\(revision)' (HTTP \(status))"
            if tokenSent {
                return refused + " with the access token given: the token is not valid, or its account has no access to this gated "
                    + "or private model; accept the model's licence on \(page) with that account, or check the token"
            }
            return refused + " and no access token was sent: the model is gated or private (or does not exist); to get access, "
                + "accept its licence on \(page) while logged in, create an access token in the hub's settings "
                + "(https://huggingface.co/settings/tokens) and set HF_TOKEN to it"
        case let .httpStatus(id, file, revision, status):
            return "model '\(id)': the hub answered HTTP \(status) for '\(file)' at revision '\(revision)'"
        case let .hubUnreachable(hub, detail):
            return "cannot reach the model hub at \(hub) (\(detail)); this machine may have no internet access: "
                + "copy a Hugging Face layout folder (\(ModelStore.requiredFiles.joined(separator: ", "))) "
                + "from a machine that has, and use that folder"
        case let .interrupted(id, file, done, total, detail):
            let of = total.map { " of \($0)" } ?? ""
            return "download of '\(file)' for model '\(id)' was interrupted after \(done)\(of) bytes (\(detail)); "
                + "run the same command again to resume"
        case let .sizeMismatch(id, file, expected, actual):
            return "model '\(id)': '\(file)' has \(actual) bytes but the hub announced \(expected); the partial download was removed"
        case let .checksumMismatch(id, file, expected, actual):
            return "model '\(id)': '\(file)' has SHA-256 \(actual) but the hub announced \(expected); the partial download was removed"
        case let .busy(id, revision, lock):
            return "model '\(id)' at revision '\(revision)' is being fetched by another process (lock '\(lock)')"
        case let .io(path, detail):
            return "cannot write the model cache at '\(path)': \(detail)"
        case let .invalidContent(id, file, reason):
            return "model '\(id)': the downloaded '\(file)' \(reason); it was removed and nothing was cached"
        case let .invalidHubURL(value):
            return "LANDSCRIBE_HUB_URL '\(value)' is not an http:// or https:// address with a host"
        }
    }

    public var errorDescription: String? { description }
}

/// The local model cache, and the resolution of model arguments.
public struct ModelStore: Sendable {
    /// The files of a Hugging Face layout CLIP folder that Landscribe reads.
    public static let requiredFiles = ["config.json", "model.safetensors", "vocab.json", "merges.txt"]
    /// The files a model folder must have (the tokenizer may come from elsewhere).
    public static let requiredInFolder = ["config.json", "model.safetensors"]
    public static let defaultModelID = "openai/clip-vit-base-patch16"
    public static let defaultRevision = "main"

    /// The cache root; models live under `<root>/models/`.
    public let root: URL

    public init(root: URL) {
        self.root = root.standardizedFileURL
    }

    /// The cache root from `LANDSCRIBE_CACHE`, else `$HOME/.cache/landscribe`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let path = environment["LANDSCRIBE_CACHE"], !path.isEmpty {
            self.init(root: URL(fileURLWithPath: path, isDirectory: true))
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 }
                .map { URL(fileURLWithPath: $0, isDirectory: true) }
                ?? FileManager.default.homeDirectoryForCurrentUser
            self.init(root: home.appendingPathComponent(".cache/landscribe", isDirectory: true))
        }
    }

    /// `<root>/models/owner--name/`: every revision of one model, and its staging folders.
    public func modelDirectory(for id: ModelID) -> URL {
        root.appendingPathComponent("models", isDirectory: true)
            .appendingPathComponent(id.cacheFolderName, isDirectory: true)
    }

    /// `<root>/models/owner--name/<revision>/`, whether or not it exists.
    public func directory(for id: ModelID, revision: String = defaultRevision) throws -> URL {
        try ModelStore.validate(revision: revision)
        return modelDirectory(for: id).appendingPathComponent(revision, isDirectory: true)
    }

    /// The cached folder of `id` at `revision`, or nil when it has not been fetched.
    public func cachedDirectory(for id: ModelID, revision: String = defaultRevision) throws -> URL? {
        let directory = try directory(for: id, revision: revision)
        return ModelStore.isDirectory(directory) ? directory : nil
    }

    /// Resolves a model argument: an existing folder is used as it is (it must hold
    /// config.json and model.safetensors); anything else must be a model id in the cache.
    public func resolve(_ spec: String, revision: String = defaultRevision) throws -> URL {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        if !spec.isEmpty, fileManager.fileExists(atPath: spec, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw ModelStoreError.notADirectory(spec) }
            let directory = URL(fileURLWithPath: spec, isDirectory: true).standardizedFileURL
            try ModelStore.checkFiles(in: directory, ModelStore.requiredInFolder, shownAs: spec)
            return directory
        }
        let id: ModelID
        do {
            id = try ModelID(spec)
        } catch let ModelStoreError.invalidID(_, reason) {
            let why = spec.isEmpty ? "empty" : "no such folder, and not a model id: \(reason)"
            throw ModelStoreError.invalidSpec(spec, reason: why)
        }
        let directory = try directory(for: id, revision: revision)
        guard ModelStore.isDirectory(directory) else {
            throw ModelStoreError.notCached(id: id.description, revision: revision, path: directory.path)
        }
        try ModelStore.checkFiles(in: directory, ModelStore.requiredFiles, shownAs: directory.path)
        return directory
    }

    /// Throws `invalidRevision` unless `revision` can be one folder name.
    public static func validate(revision: String) throws {
        if ModelID.problem(with: Substring(revision)) != nil {
            throw ModelStoreError.invalidRevision(revision)
        }
    }

    static func checkFiles(in directory: URL, _ files: [String], shownAs shown: String) throws {
        for file in files where !FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path) {
            throw ModelStoreError.missingFile(directory: shown, file: file)
        }
    }

    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
