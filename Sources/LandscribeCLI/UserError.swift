/// An error worded for the command line: the message names the option to change. Library
/// errors describe the problem without flags; a command that knows which option is at fault
/// words it as a `UserError`.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
