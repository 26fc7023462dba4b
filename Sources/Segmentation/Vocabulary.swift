import Foundation

/// The classes a map is made of and the words that describe them (docs/METHOD.md section 2):
/// every prompt of every class becomes one text query; `queryClass[k]` is query k's class.
public struct Vocabulary: Sendable, Equatable {
    public struct Class: Sendable, Equatable {
        public let name: String
        /// Synonyms; the class name itself when none were given.
        public let prompts: [String]
        public init(name: String, prompts: [String] = []) {
            self.name = name
            self.prompts = prompts.isEmpty ? [name] : prompts
        }
    }

    public let classes: [Class]
    public let templates: [String]

    public init(classes: [Class], templates: [String]) {
        self.classes = classes
        self.templates = templates
    }

    /// All prompts, class by class: the text queries in order.
    public var queries: [String] { classes.flatMap(\.prompts) }

    /// For each query, the index of its class.
    public var queryClass: [Int] { classes.enumerated().flatMap { i, c in Array(repeating: i, count: c.prompts.count) } }

    /// Parses a class list, `"building; road; tree, forest; water"`: classes separated by `;`,
    /// synonyms by `,`, the first word of each class is its name.
    public static func parseClassList(_ text: String) throws -> [Class] {
        var out: [Class] = []
        for part in text.split(separator: ";") {
            let words = part.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
            guard let name = words.first else { continue }
            out.append(Class(name: name, prompts: words))
        }
        guard !out.isEmpty else { throw VocabularyError("no class names in '\(text)'") }
        return out
    }
}

public struct VocabularyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
