import ArgumentParser
import Foundation
import Pipeline

/// Mistakes that swift-argument-parser words poorly, caught before it parses: an unknown
/// subcommand (it answers "Unknown option '-o'"), and an unknown option that it reports only
/// after a rule about required options ("give either --pipeline FILE or --classes LIST").
enum Preflight {
    /// The one-line message for `arguments` (without the program name), or nil when they are
    /// for the parser to judge.
    static func problem(_ arguments: [String]) -> String? {
        problem(arguments[...], command: Landscribe.self, path: ["landscribe"])
    }

    private static func subcommands(_ command: any ParsableCommand.Type) -> [(name: String, type: any ParsableCommand.Type)] {
        let list: [any ParsableCommand.Type] = command.configuration.subcommands
        return list.map { (name: commandName($0), type: $0) }
    }

    private static func commandName(_ command: any ParsableCommand.Type) -> String {
        let name: String? = command.configuration.commandName
        return name ?? String(describing: command).lowercased()
    }

    private static func problem(_ rest: ArraySlice<String>, command: any ParsableCommand.Type, path: [String]) -> String? {
        let subs = subcommands(command)
        if let word = rest.first, !word.hasPrefix("-"), !subs.isEmpty {
            if let next = subs.first(where: { $0.name == word }) {
                return problem(rest.dropFirst(), command: next.type, path: path + [word])
            }
            if word == "help" { return nil }
            let names = subs.map(\.name)
            let hint = Suggestion.nearest(to: word, among: names).map { "; did you mean '\($0)'?" } ?? ""
            return "\(path.joined(separator: " ")): unknown command '\(word)'\(hint) Commands: \(names.joined(separator: ", "))"
        }
        let known = options(of: command)
        for argument in rest {
            if argument == "--" { break }
            guard argument.hasPrefix("--"), argument.count > 2 else { continue }
            let name = String(argument.split(separator: "=", maxSplits: 1)[0])
            if known.contains(name) { continue }
            let hint = Suggestion.nearest(to: name, among: known.sorted()).map { "; did you mean '\($0)'?" } ?? ""
            return "\(path.joined(separator: " ")): unknown option '\(name)'\(hint) See '\(path.joined(separator: " ")) --help'."
        }
        return nil
    }

    /// Every long option a command takes, read from its own help text.
    static func options(of command: any ParsableCommand.Type) -> Set<String> {
        let help = Landscribe.helpMessage(for: command, includeHidden: true, columns: 10_000)
        var names: Set<String> = ["--help", "--version"]
        let scalars = Array(help)
        var i = 0
        while i + 2 < scalars.count {
            if scalars[i] == "-", scalars[i + 1] == "-", scalars[i + 2].isLetter, i == 0 || !(scalars[i - 1].isLetter || scalars[i - 1] == "-") {
                var j = i + 2
                while j < scalars.count, scalars[j].isLetter || scalars[j].isNumber || scalars[j] == "-" { j += 1 }
                names.insert(String(scalars[i..<j]))
                i = j
            } else {
                i += 1
            }
        }
        return names
    }
}
