using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>
/// Go's %q (strconv.Quote), as flag errors show a bad value: <c>invalid boolean value %q for -%s: %v</c>.
/// Printable runes are kept, the usual escapes are used for \a \b \f \n \r \t \v, other control
/// characters below 0x80 as \xNN, and other non-printable runes as \uNNNN.
/// </summary>
public sealed class GoSyntaxQuoteTests
{
    [Theory]
    [InlineData("", "\"\"")]
    [InlineData("abc", "\"abc\"")]
    [InlineData(" ", "\" \"")]
    [InlineData("a b", "\"a b\"")]
    [InlineData("a\"b", "\"a\\\"b\"")]
    [InlineData("a\\b", "\"a\\\\b\"")]
    [InlineData("'", "\"'\"")]
    [InlineData("a\nb", "\"a\\nb\"")]
    [InlineData("a\tb", "\"a\\tb\"")]
    [InlineData("a\rb", "\"a\\rb\"")]
    [InlineData("\0", "\"\\x00\"")]
    [InlineData("\u0001", "\"\\x01\"")]
    [InlineData("\u001b[0m", "\"\\x1b[0m\"")]
    [InlineData("\u001f", "\"\\x1f\"")]
    [InlineData("\u007f", "\"\\x7f\"")]
    [InlineData("\u00e9t\u00e9", "\"\u00e9t\u00e9\"")]
    [InlineData("\u65e5\u672c", "\"\u65e5\u672c\"")]
    [InlineData("\U0001F600", "\"\U0001F600\"")]
    [InlineData("\uFFFD", "\"\uFFFD\"")]
    public void Strings_are_quoted_as_go_does(string value, string expected)
    {
        GoSyntax.Quote(value).Should().Be(expected);
    }

    // strconv.Quote uses the short escapes for these controls, and \u for runes from 0x80 up that
    // unicode.IsPrint rejects (C1 controls, non-ASCII spaces, format characters).
    [Theory]
    [InlineData("\a", "\"\\a\"")]
    [InlineData("\b", "\"\\b\"")]
    [InlineData("\f", "\"\\f\"")]
    [InlineData("\v", "\"\\v\"")]
    [InlineData("\u0085", "\"\\u0085\"")]
    [InlineData("\u00a0", "\"\\u00a0\"")]
    [InlineData("\u200b", "\"\\u200b\"")]
    [InlineData("\u2028", "\"\\u2028\"")]
    public void Special_and_non_printable_characters_use_gos_escapes(string value, string expected)
    {
        GoSyntax.Quote(value).Should().Be(expected);
    }

    [Theory]
    [InlineData("a\"b", "\"a\\\"b\"")]
    [InlineData("x\ty", "\"x\\ty\"")]
    [InlineData("\u00e9", "\"\u00e9\"")]
    [InlineData("\a", "\"\\a\"")]
    public void Bad_values_are_quoted_in_flag_errors(string value, string quoted)
    {
        GoFlagParser.Parse(["-use-listen-fd=" + value]).Error
            .Should().Be($"invalid boolean value {quoted} for -use-listen-fd: parse error");
        GoFlagParser.Parse(["-host-port", value]).Error
            .Should().Be($"invalid value {quoted} for flag -host-port: parse error");
    }
}
