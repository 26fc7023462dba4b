import Foundation
import Testing

/// Every link in README.md and docs/*.md resolves, and so does every docs page the code names in
/// a comment or a `--help` string: a page that moves or a heading that is renamed breaks this test,
/// not a reader.
@Suite("Documentation links resolve")
struct LinkTests {
    /// The repository root: this file is Tests/DocsTests/LinkTests.swift.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// README.md and every docs/*.md, as paths relative to the root.
    static func pages() throws -> [String] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)
        return ["README.md"] + docs.filter { $0.hasSuffix(".md") }.sorted().map { "docs/" + $0 }
    }

    @Test("README.md and docs/*.md: Markdown links and docs/NAME.md mentions point at files and headings that exist")
    func pagesResolve() throws {
        let pages = try Self.pages()
        #expect(pages.contains("docs/METHOD.md"), "docs/METHOD.md is cited by the code")
        var problems: [String] = []
        for page in pages {
            let text = try String(contentsOf: Self.root.appendingPathComponent(page), encoding: .utf8)
            problems += Links.problems(in: text, page: page, root: Self.root)
        }
        #expect(problems.isEmpty, "broken links:\n\(problems.joined(separator: "\n"))")
    }

    @Test("Sources, Tests, Tools and Package.swift: every docs/NAME.md they mention exists")
    func codeCitationsResolve() throws {
        var problems: [String] = []
        var files = ["Package.swift"]
        for folder in ["Sources", "Tests", "Tools"] {
            let base = Self.root.appendingPathComponent(folder).path
            guard let walker = FileManager.default.enumerator(atPath: base) else { continue }
            for case let path as String in walker
            where [".swift", ".py", ".sh"].contains(where: path.hasSuffix) && !path.hasPrefix("DocsTests/") {
                files.append(folder + "/" + path)
            }
        }
        #expect(files.count > 50, "the walk found the sources")
        for file in files {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            problems += Links.docMentionProblems(in: text, file: file, root: Self.root)
        }
        #expect(problems.isEmpty, "docs pages named in the code that do not exist:\n\(problems.joined(separator: "\n"))")
    }

    // The checker itself: it must catch what it is for, or the two tests above prove nothing.

    @Test("a broken link, a missing page, a missing heading and a missing docs mention are each reported")
    func checkerCatchesBreakage() throws {
        let page = """
        # Title

        ## Real heading (with `code`)

        [fine](segment.md), [fine too](segment.md#contract), [here](#real-heading-with-code),
        [web](https://example.com/x.md), [mail](mailto:a@b.c), docs/METHOD.md is fine.
        [broken](no-such-page.md) and [bad anchor](segment.md#no-such-heading) and [gone](#nowhere)
        and docs/NO_SUCH_PAGE.md.

        ```
        [inside a code block](not-checked.md)
        ```
        """
        let problems = Links.problems(in: page, page: "docs/example.md", root: Self.root)
        #expect(problems.count == 4, "\(problems)")
        #expect(problems.contains { $0.contains("no-such-page.md") })
        #expect(problems.contains { $0.contains("#no-such-heading") })
        #expect(problems.contains { $0.contains("#nowhere") })
        #expect(problems.contains { $0.contains("NO_SUCH_PAGE") })
        #expect(!problems.contains { $0.contains("not-checked") })

        let code = "/// See docs/segment.md and docs/NOPE.md.\nlet help = \"(docs/bench.md)\""
        let codeProblems = Links.docMentionProblems(in: code, file: "Sources/X.swift", root: Self.root)
        #expect(codeProblems.count == 1 && codeProblems[0].contains("NOPE"), "\(codeProblems)")
    }

    @Test("heading anchors are GitHub's")
    func anchors() {
        #expect(Links.anchors(of: "## 8. Metrics (evaluate)\n## Contract\n## Contract\n# `--model`, the cache")
                == ["8-metrics-evaluate", "contract", "contract-1", "--model-the-cache"])
    }
}

/// The link checker: pure functions over a page's text.
enum Links {
    static let markdownLink = try! NSRegularExpression(pattern: #"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#)
    /// `docs/NAME.md`, not as part of a longer path (`shared/docs/X.md`, `a-docs/X.md`).
    static let docMention = try! NSRegularExpression(pattern: #"(?<![\w./-])docs/([\w.-]+\.md)"#)

    /// Problems of one Markdown page (its path relative to `root`), one line each:
    /// Markdown links outside fenced code blocks to files or headings that do not exist, and
    /// `docs/NAME.md` mentions (read from the repository root) of pages that do not exist.
    static func problems(in text: String, page: String, root: URL) -> [String] {
        var problems: [String] = []
        let folder = root.appendingPathComponent(page).deletingLastPathComponent()
        for (line, content) in lines(text, skippingCode: true) {
            for target in matches(markdownLink, in: content) {
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let path = parts[0].removingPercentEncoding ?? parts[0], anchor = parts.count > 1 ? parts[1] : nil
                var headings = text                      // a bare #anchor is a heading of this page
                if !path.isEmpty {
                    let file = URL(fileURLWithPath: path, relativeTo: folder).standardizedFileURL
                    var isDirectory: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
                        problems.append("\(page):\(line): (\(target)): no file \(file.path)")
                        continue
                    }
                    guard file.pathExtension == "md", !isDirectory.boolValue else { continue }
                    headings = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
                }
                if let anchor, !anchor.isEmpty, !anchors(of: headings).contains(anchor.lowercased()) {
                    problems.append("\(page):\(line): (\(target)): no heading #\(anchor) in \(path.isEmpty ? page : path)")
                }
            }
        }
        problems += docMentionProblems(in: text, file: page, root: root)
        return problems
    }

    /// `docs/NAME.md` mentions in any text (comments, help strings, Markdown) whose page does not exist.
    static func docMentionProblems(in text: String, file: String, root: URL) -> [String] {
        var problems: [String] = []
        for (line, content) in lines(text, skippingCode: false) {
            for name in matches(docMention, in: content) {
                let path = root.appendingPathComponent("docs").appendingPathComponent(name).path
                if !FileManager.default.fileExists(atPath: path) {
                    problems.append("\(file):\(line): docs/\(name) does not exist")
                }
            }
        }
        return problems
    }

    /// GitHub's heading anchors: lower case, punctuation other than `-` and `_` dropped, spaces
    /// to `-`; a repeated heading gets `-1`, `-2`, ...
    static func anchors(of text: String) -> [String] {
        var seen: [String: Int] = [:]
        var out: [String] = []
        for (_, line) in lines(text, skippingCode: true) where line.hasPrefix("#") {
            let title = line.drop { $0 == "#" }
            guard title.first == " " else { continue }
            var slug = ""
            for ch in title.trimmingCharacters(in: .whitespaces).lowercased() {
                if ch.isLetter || ch.isNumber || ch == "-" || ch == "_" { slug.append(ch) } else if ch == " " { slug.append("-") }
            }
            let n = seen[slug, default: 0]
            seen[slug] = n + 1
            out.append(n == 0 ? slug : "\(slug)-\(n)")
        }
        return out
    }

    /// Numbered lines (from 1), without those inside fenced code blocks when asked.
    static func lines(_ text: String, skippingCode: Bool) -> [(Int, String)] {
        var out: [(Int, String)] = []
        var inCode = false
        for (i, line) in text.components(separatedBy: "\n").enumerated() {
            if skippingCode, line.trimmingCharacters(in: .whitespaces).hasPrefix("```") { inCode.toggle(); continue }
            if !inCode || !skippingCode { out.append((i + 1, line)) }
        }
        return out
    }

    static func matches(_ regex: NSRegularExpression, in line: String) -> [String] {
        let range = NSRange(line.startIndex..., in: line)
        return regex.matches(in: line, range: range).compactMap { m in
            Range(m.range(at: 1), in: line).map { String(line[$0]) }
        }
    }
}
