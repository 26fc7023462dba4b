// Text cleaning and CLIP's word pattern, for both references (see Tokenizer.swift).
import Foundation

enum SpecialToken {
    static let startOfText = "<|startoftext|>"
    static let endOfText = "<|endoftext|>"
    /// open_clip's names for the same two ids, matched by its word pattern.
    static let openCLIPNames = ["<start_of_text>": startOfText, "<end_of_text>": endOfText]
}

/// A piece of text after pre-tokenization: a word for BPE, or a special token (by its
/// transformers name).
enum PreToken: Equatable {
    case word(String)
    case special(String)
}

/// Cleans `text` and splits it into words with CLIP's pattern
/// `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`.
/// Whatever the pattern does not match (whitespace) is dropped, which is why the whitespace
/// cleaning of both references (runs of white space to one space, strip) needs no pass of its own.
func preTokenize(_ text: String, normalization: CLIPTokenizer.Normalization) -> [PreToken] {
    var pieces: [PreToken] = []
    switch normalization {
    case .transformers:
        // `tokenizers` takes special tokens written exactly out of the raw text first and
        // normalizes the segments between them on their own.
        var rest = Substring(text)
        while let (range, name) = firstSpecialToken(in: rest) {
            splitWords(lowercasedPerScalar(rest[..<range.lowerBound].precomposedStringWithCanonicalMapping),
                       literals: [:], into: &pieces)
            pieces.append(.special(name))
            rest = rest[range.upperBound...]
        }
        splitWords(lowercasedPerScalar(rest.precomposedStringWithCanonicalMapping), literals: [:], into: &pieces)
    case .openCLIP:
        var cleaned = fixTextSubset(text)
        cleaned = unescapeHTML(unescapeHTML(cleaned))
        splitWords(lowercasedLikePython(cleaned), literals: SpecialToken.openCLIPNames,
                   foldLongS: true, into: &pieces)
    }
    return pieces
}

/// The leftmost exact `<|startoftext|>` or `<|endoftext|>` in `text`.
private func firstSpecialToken(in text: Substring) -> (Range<Substring.Index>, String)? {
    let found = [SpecialToken.startOfText, SpecialToken.endOfText].compactMap { name in
        text.range(of: name, options: .literal).map { ($0, name) }
    }
    return found.min { $0.0.lowerBound < $1.0.lowerBound }
}

// MARK: - The word pattern

private extension Unicode.Scalar {
    var isLetter: Bool {
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: true
        default: false
        }
    }

    var isNumber: Bool {
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: true
        default: false
        }
    }

    /// `\s` of both regex engines: Unicode's White_Space.
    var isSpace: Bool { properties.isWhitespace }
}

/// Splits lower-cased text at scalar level, trying the pattern's alternatives in order at each
/// position as a backtracking regex engine does.
/// - Parameters:
///   - literals: special-token spellings that become `.special` (open_clip). With none, the
///     transformers spellings `<|startoftext|>` / `<|endoftext|>` still match as one piece, but
///     `tokenizers`' ByteLevel step splits that piece again with GPT-2's pattern, into
///     `<|`, the name and `|>`; this does the same.
///   - foldLongS: match the contractions case-insensitively as Python's `regex` does with
///     IGNORECASE (open_clip): after lower-casing only `'ſ` (long s) is affected.
private func splitWords(_ text: String, literals: [String: String], foldLongS: Bool = false,
                        into pieces: inout [PreToken]) {
    let scalars = Array(text.unicodeScalars)
    let patternLiterals: [(scalars: [Unicode.Scalar], special: String?)] =
        literals.isEmpty
        ? [SpecialToken.startOfText, SpecialToken.endOfText].map { (Array($0.unicodeScalars), nil) }
        : literals.sorted { $0.key < $1.key }.map { (Array($0.key.unicodeScalars), $0.value) }
    func word(_ range: Range<Int>) -> PreToken {
        var string = String.UnicodeScalarView()
        string.append(contentsOf: scalars[range])
        return .word(String(string))
    }
    func hasPrefix(_ prefix: [Unicode.Scalar], at i: Int) -> Bool {
        i + prefix.count <= scalars.count && scalars[i..<(i + prefix.count)].elementsEqual(prefix)
    }
    var i = 0
    next: while i < scalars.count {
        for literal in patternLiterals where hasPrefix(literal.scalars, at: i) {
            let end = i + literal.scalars.count
            if let special = literal.special {
                pieces.append(.special(special))
            } else {
                pieces += [word(i..<(i + 2)), word((i + 2)..<(end - 2)), word((end - 2)..<end)]
            }
            i = end
            continue next
        }
        if scalars[i] == "'", i + 1 < scalars.count {
            let second = scalars[i + 1]
            let third = i + 2 < scalars.count ? scalars[i + 2] : " "
            var length = 0
            switch second {
            case "s", "t", "m", "d": length = 2
            case "\u{17F}" where foldLongS: length = 2
            case "r" where third == "e", "v" where third == "e", "l" where third == "l": length = 3
            default: break
            }
            if length > 0 {
                pieces.append(word(i..<(i + length)))
                i += length
                continue
            }
        }
        let scalar = scalars[i]
        var end = i + 1
        if scalar.isLetter {
            while end < scalars.count && scalars[end].isLetter { end += 1 }
        } else if scalar.isNumber {
            // one digit per word
        } else if scalar.isSpace {
            i += 1
            continue
        } else {
            while end < scalars.count && !scalars[end].isLetter && !scalars[end].isNumber && !scalars[end].isSpace {
                end += 1
            }
        }
        pieces.append(word(i..<end))
        i = end
    }
}

// MARK: - Lower-casing

/// `tokenizers`' Lowercase: each scalar's full lower-case mapping, without context (so a final
/// capital sigma becomes "σ").
private func lowercasedPerScalar(_ text: String) -> String {
    var result = ""
    result.unicodeScalars.reserveCapacity(text.unicodeScalars.count)
    for scalar in text.unicodeScalars {
        result.unicodeScalars.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
    }
    return result
}

/// Python's `str.lower`: full lower-case mappings plus Unicode's Final_Sigma rule (a capital
/// sigma after a cased letter and not before one, case-ignorable scalars skipped, becomes "ς").
private func lowercasedLikePython(_ text: String) -> String {
    let scalars = Array(text.unicodeScalars)
    func casedNeighbour(from start: Int, step: Int) -> Bool {
        var j = start
        while j >= 0 && j < scalars.count {
            let properties = scalars[j].properties
            if !properties.isCaseIgnorable { return properties.isCased }
            j += step
        }
        return false
    }
    var result = String.UnicodeScalarView()
    for (i, scalar) in scalars.enumerated() {
        if scalar == "\u{3A3}" && casedNeighbour(from: i - 1, step: -1) && !casedNeighbour(from: i + 1, step: 1) {
            result.append("\u{3C2}")
        } else {
            result.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
        }
    }
    return String(result)
}

// MARK: - open_clip's cleaning

/// The part of `ftfy.fix_text` (ftfy 6, default configuration) that can be done by table, in
/// ftfy's order: HTML entities ending in ";" when the text has no "<", Latin ligatures,
/// halfwidth/fullwidth forms, curly quotes, line breaks, ANSI terminal escapes, control
/// characters, NFC. Left out: `fix_encoding` (mojibake detection: heuristics over many
/// legacy code pages), `fix_c1_controls`, and ftfy's upper-case entity names; `fix_surrogates`
/// cannot apply to a Swift `String`. Like ftfy, the fixes repeat until the text stops changing,
/// and whether entities are decoded is decided once, on the original text.
private func fixTextSubset(_ text: String) -> String {
    let unescape = !text.contains("<")
    var text = text
    while true {
        let fixed = fixTextPass(text, unescape: unescape)
        if fixed.unicodeScalars.elementsEqual(text.unicodeScalars) { return fixed }
        text = fixed
    }
}

private func fixTextPass(_ text: String, unescape: Bool) -> String {
    let text = unescape ? unescapeHTML(text, requireSemicolon: true) : text
    var out = String.UnicodeScalarView()
    var scalars = text.unicodeScalars[...]
    while let scalar = scalars.popFirst() {
        let value = scalar.value
        if let expansion = latinLigatures[value] {
            out.append(contentsOf: expansion.unicodeScalars)
        } else if value == 0x3000 {
            out.append(" ")
        } else if (0xFF01...0xFFEF).contains(value) {
            out.append(contentsOf: String(scalar).precomposedStringWithCompatibilityMapping.unicodeScalars)
        } else if value == 0x2BC || (0x2018...0x201B).contains(value) {
            out.append("'")
        } else if (0x201C...0x201F).contains(value) {
            out.append("\"")
        } else if value == 0x0D {
            out.append("\n")
            if scalars.first == "\n" { scalars.removeFirst() }
        } else if value == 0x2028 || value == 0x2029 || value == 0x85 {
            out.append("\n")
        } else if value == 0x1B, let length = ansiEscapeLength(scalars) {
            scalars.removeFirst(length)
        } else if !isFtfyControl(value) {
            out.append(scalar)
        }
    }
    return String(out).precomposedStringWithCanonicalMapping
}

/// ftfy's LIGATURES table.
private let latinLigatures: [UInt32: String] = [
    0x132: "IJ", 0x133: "ij", 0x149: "\u{2BC}n", 0x1F1: "DZ", 0x1F2: "Dz", 0x1F3: "dz",
    0x1C4: "D\u{17D}", 0x1C5: "D\u{17E}", 0x1C6: "d\u{17E}", 0x1C7: "LJ", 0x1C8: "Lj", 0x1C9: "lj",
    0x1CA: "NJ", 0x1CB: "Nj", 0x1CC: "nj", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi",
    0xFB04: "ffl", 0xFB05: "\u{17F}t", 0xFB06: "st",
]

/// ftfy's `remove_control_chars` set.
private func isFtfyControl(_ value: UInt32) -> Bool {
    value <= 0x08 || value == 0x0B || (0x0E...0x1F).contains(value) || value == 0x7F
        || (0x206A...0x206F).contains(value) || value == 0xFEFF || (0xFFF9...0xFFFC).contains(value)
}

/// After an ESC: the length of `[` (digits or ";")* letter, ftfy's ANSI_RE, or nil.
private func ansiEscapeLength(_ rest: Substring.UnicodeScalarView) -> Int? {
    guard rest.first == "[" else { return nil }
    var length = 1
    for scalar in rest.dropFirst() {
        length += 1
        if scalar == ";" || ("0"..."9").contains(scalar) { continue }
        return (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)) ? length : nil
    }
    return nil
}

// MARK: - HTML entities

/// Python's `html.unescape` for numeric references and the named entities in `htmlEntities`
/// (`requireSemicolon`: ftfy's stricter form, only `&name;` and `&#n;`). Python knows all 2,231
/// HTML5 names; prompts use few, and a missing one only leaves the entity as written.
func unescapeHTML(_ text: String, requireSemicolon: Bool = false) -> String {
    guard text.contains("&") else { return text }
    let scalars = Array(text.unicodeScalars)
    var out = String.UnicodeScalarView()
    var i = 0
    while i < scalars.count {
        guard scalars[i] == "&", let (replacement, length) = entity(scalars, at: i, requireSemicolon) else {
            out.append(scalars[i])
            i += 1
            continue
        }
        out.append(contentsOf: replacement.unicodeScalars)
        i += length
    }
    return String(out)
}

/// The replacement for the reference starting with "&" at `start`, and its length in scalars.
private func entity(_ s: [Unicode.Scalar], at start: Int, _ requireSemicolon: Bool) -> (String, Int)? {
    var i = start + 1
    if i < s.count && s[i] == "#" {
        i += 1
        let hex = i < s.count && (s[i] == "x" || s[i] == "X")
        if hex { i += 1 }
        let digitsStart = i
        while i < s.count && (hex ? s[i].properties.isASCIIHexDigit : ("0"..."9").contains(s[i])) { i += 1 }
        guard i > digitsStart else { return nil }
        let digits = String(String.UnicodeScalarView(s[digitsStart..<i]))
        let value = UInt32(digits, radix: hex ? 16 : 10) ?? .max   // too long: out of range
        let terminated = i < s.count && s[i] == ";"
        if requireSemicolon && !terminated { return nil }
        return (numericCharacter(value), i - start + (terminated ? 1 : 0))
    }
    // A name: Python takes up to 32 scalars other than tab, newline, form feed, space, <, &, #, ;.
    let nameStart = i
    while i < s.count && i - nameStart < 32 && !"\t\n\u{C} <&#;".unicodeScalars.contains(s[i]) { i += 1 }
    let name = String(String.UnicodeScalarView(s[nameStart..<i]))
    if i < s.count && s[i] == ";", let character = htmlEntities[name] {
        return (character, i - start + 1)
    }
    if requireSemicolon { return nil }
    // Without ";", Python accepts the longest prefix that is a legacy (HTML 4) name.
    for length in stride(from: name.unicodeScalars.count, through: 2, by: -1) {
        let prefix = String(name.unicodeScalars.prefix(length))
        if legacyEntityNames.contains(prefix), let character = htmlEntities[prefix] {
            return (character, 1 + length)
        }
    }
    return nil
}

/// Python's `html._replace_charref` for a numeric reference.
private func numericCharacter(_ value: UInt32) -> String {
    if let replacement = windows1252Controls[value] { return replacement }
    if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return "\u{FFFD}" }
    let invalid = (0x01...0x08).contains(value) || value == 0x0B || (0x0E...0x1F).contains(value)
        || (0x7F...0x9F).contains(value) || (0xFDD0...0xFDEF).contains(value) || value & 0xFFFE == 0xFFFE
    return invalid ? "" : String(Unicode.Scalar(value)!)
}

/// Python's `html._invalid_charrefs`: NUL, CR and the C1 range read as Windows-1252.
private let windows1252Controls: [UInt32: String] = [
    0x00: "\u{FFFD}", 0x0D: "\r", 0x80: "\u{20AC}", 0x81: "\u{81}", 0x82: "\u{201A}", 0x83: "\u{192}",
    0x84: "\u{201E}", 0x85: "\u{2026}", 0x86: "\u{2020}", 0x87: "\u{2021}", 0x88: "\u{2C6}",
    0x89: "\u{2030}", 0x8A: "\u{160}", 0x8B: "\u{2039}", 0x8C: "\u{152}", 0x8D: "\u{8D}",
    0x8E: "\u{17D}", 0x8F: "\u{8F}", 0x90: "\u{90}", 0x91: "\u{2018}", 0x92: "\u{2019}",
    0x93: "\u{201C}", 0x94: "\u{201D}", 0x95: "\u{2022}", 0x96: "\u{2013}", 0x97: "\u{2014}",
    0x98: "\u{2DC}", 0x99: "\u{2122}", 0x9A: "\u{161}", 0x9B: "\u{203A}", 0x9C: "\u{153}",
    0x9D: "\u{9D}", 0x9E: "\u{17E}", 0x9F: "\u{178}",
]

/// The named entities decoded here: markup, spaces, quotes and dashes, common symbols and the
/// Latin-1 letters of European place names.
private let htmlEntities: [String: String] = [
    "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}",
    "ensp": "\u{2002}", "emsp": "\u{2003}", "thinsp": "\u{2009}", "shy": "\u{AD}",
    "lsquo": "\u{2018}", "rsquo": "\u{2019}", "ldquo": "\u{201C}", "rdquo": "\u{201D}",
    "ndash": "\u{2013}", "mdash": "\u{2014}", "hellip": "\u{2026}", "bull": "\u{2022}",
    "copy": "\u{A9}", "reg": "\u{AE}", "trade": "\u{2122}", "deg": "\u{B0}", "plusmn": "\u{B1}",
    "times": "\u{D7}", "divide": "\u{F7}", "micro": "\u{B5}", "middot": "\u{B7}", "sect": "\u{A7}",
    "para": "\u{B6}", "euro": "\u{20AC}", "pound": "\u{A3}", "yen": "\u{A5}", "cent": "\u{A2}",
    "frac12": "\u{BD}", "frac14": "\u{BC}", "frac34": "\u{BE}", "sup2": "\u{B2}", "sup3": "\u{B3}",
    "aacute": "\u{E1}", "agrave": "\u{E0}", "acirc": "\u{E2}", "atilde": "\u{E3}", "auml": "\u{E4}",
    "aring": "\u{E5}", "aelig": "\u{E6}", "ccedil": "\u{E7}", "eacute": "\u{E9}", "egrave": "\u{E8}",
    "ecirc": "\u{EA}", "euml": "\u{EB}", "iacute": "\u{ED}", "igrave": "\u{EC}", "icirc": "\u{EE}",
    "iuml": "\u{EF}", "ntilde": "\u{F1}", "oacute": "\u{F3}", "ograve": "\u{F2}", "ocirc": "\u{F4}",
    "otilde": "\u{F5}", "ouml": "\u{F6}", "oslash": "\u{F8}", "uacute": "\u{FA}", "ugrave": "\u{F9}",
    "ucirc": "\u{FB}", "uuml": "\u{FC}", "yacute": "\u{FD}", "szlig": "\u{DF}",
    "Aacute": "\u{C1}", "Agrave": "\u{C0}", "Auml": "\u{C4}", "Aring": "\u{C5}", "AElig": "\u{C6}",
    "Ccedil": "\u{C7}", "Eacute": "\u{C9}", "Egrave": "\u{C8}", "Ntilde": "\u{D1}", "Oacute": "\u{D3}",
    "Ouml": "\u{D6}", "Oslash": "\u{D8}", "Uacute": "\u{DA}", "Uuml": "\u{DC}",
]

/// The names above that HTML 4 also defined, which Python accepts without the ";".
private let legacyEntityNames: Set<String> = Set(htmlEntities.keys).subtracting([
    "apos", "ensp", "emsp", "thinsp", "lsquo", "rsquo", "ldquo", "rdquo", "ndash", "mdash",
    "hellip", "bull", "trade", "euro",
])
