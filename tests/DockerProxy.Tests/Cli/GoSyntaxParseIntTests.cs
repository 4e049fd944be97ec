using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>Integers as Go's strconv.ParseInt(s, 0, 64) reads them (the original's flag.Int).</summary>
public sealed class GoSyntaxParseIntTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("1", 1L)]
    [InlineData("80", 80L)]
    [InlineData("65535", 65535L)]
    [InlineData("+5", 5L)]
    [InlineData("-5", -5L)]
    [InlineData("+0", 0L)]
    [InlineData("-0", 0L)]
    [InlineData("00", 0L)]
    [InlineData("0x4650", 18000L)]
    [InlineData("0X4650", 18000L)]
    [InlineData("0xff", 255L)]
    [InlineData("0xFF", 255L)]
    [InlineData("0xaBc", 2748L)]
    [InlineData("-0x10", -16L)]
    [InlineData("0o17", 15L)]
    [InlineData("0O17", 15L)]
    [InlineData("017", 15L)]
    [InlineData("0777", 511L)]
    [InlineData("-017", -15L)]
    [InlineData("0b101", 5L)]
    [InlineData("0B101", 5L)]
    [InlineData("+0b11", 3L)]
    [InlineData("1_000", 1000L)]
    [InlineData("1_000_000", 1000000L)]
    [InlineData("-1_0", -10L)]
    [InlineData("0x_1F", 31L)]
    [InlineData("0x1_F", 31L)]
    [InlineData("0b_1_0", 2L)]
    [InlineData("0o_7", 7L)]
    [InlineData("0_7", 7L)]
    [InlineData("0000000000000000000000000017", 15L)]
    [InlineData("00000000000000000000000000000000000000000000000001", 1L)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("-9223372036854775808", long.MinValue)]
    [InlineData("+9223372036854775807", long.MaxValue)]
    [InlineData("0x7FFFFFFFFFFFFFFF", long.MaxValue)]
    [InlineData("-0x8000000000000000", long.MinValue)]
    [InlineData("0777777777777777777777", long.MaxValue)]
    [InlineData("0b111111111111111111111111111111111111111111111111111111111111111", long.MaxValue)]
    public void Valid_numbers_are_read(string text, long expected)
    {
        GoSyntax.ParseInt(text, out long value).Should().Be(GoIntResult.Ok);
        value.Should().Be(expected);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" 1")]
    [InlineData("1 ")]
    [InlineData("+")]
    [InlineData("-")]
    [InlineData("+-1")]
    [InlineData("--1")]
    [InlineData("++1")]
    [InlineData("- 1")]
    [InlineData("08")]
    [InlineData("09")]
    [InlineData("00000000000000000000009223372036854775807")] // a leading 0 makes it octal: '9' is no digit
    [InlineData("0o8")]
    [InlineData("0b2")]
    [InlineData("0xg")]
    [InlineData("0x")]
    [InlineData("0X")]
    [InlineData("0o")]
    [InlineData("0b")]
    [InlineData("0x_")]
    [InlineData("0_")]
    [InlineData("0__1")]
    [InlineData("0x-1")]
    [InlineData("1__0")]
    [InlineData("_1")]
    [InlineData("-_1")]
    [InlineData("+_1")]
    [InlineData("1_")]
    [InlineData("_")]
    [InlineData("12a")]
    [InlineData("a12")]
    [InlineData("1e3")]
    [InlineData("1.0")]
    [InlineData("1,000")]
    [InlineData("0x1p4")]
    [InlineData("\u0661")] // ARABIC-INDIC DIGIT ONE
    [InlineData("\uFF11")] // FULLWIDTH DIGIT ONE
    [InlineData("abc")]
    [InlineData("0x1g")]
    [InlineData("9223372036854775808x")] // within uint64, then a bad digit: Go reports the syntax error
    [InlineData("18446744073709551615x")]
    public void Malformed_numbers_are_syntax_errors(string text)
    {
        GoSyntax.ParseInt(text, out _).Should().Be(GoIntResult.Syntax);
    }

    [Theory]
    [InlineData("9223372036854775808")]
    [InlineData("+9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("18446744073709551615")]
    [InlineData("18446744073709551616")]
    [InlineData("99999999999999999999")]
    [InlineData("0x8000000000000000")]
    [InlineData("-0x8000000000000001")]
    [InlineData("0xFFFFFFFFFFFFFFFF")]
    [InlineData("0x1_0000_0000_0000_0000")]
    [InlineData("01000000000000000000000")]
    [InlineData("0b1000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("-99999999999999999999999999999999")]
    public void Numbers_beyond_int64_are_out_of_range(string text)
    {
        GoSyntax.ParseInt(text, out _).Should().Be(GoIntResult.OutOfRange);
    }

    // strconv.ParseUint stops at the first digit that overflows uint64 and returns ErrRange before it
    // looks at the rest of the string (or checks the underscores), so Go says "value out of range" here.
    [Theory]
    [InlineData("99999999999999999999x")]
    [InlineData("18446744073709551616_")]
    [InlineData("99999999999999999999_")]
    [InlineData("0x1FFFFFFFFFFFFFFFFg")]
    [InlineData("-99999999999999999999 ")]
    public void A_number_overflowing_uint64_is_out_of_range_whatever_follows(string text)
    {
        GoSyntax.ParseInt(text, out _).Should().Be(GoIntResult.OutOfRange);
    }

    [Fact]
    public void The_flag_error_for_a_number_overflowing_uint64_before_a_bad_digit_says_out_of_range()
    {
        FlagParseResult result = GoFlagParser.Parse(["-host-port", "99999999999999999999x"]);

        result.Outcome.Should().Be(FlagParseOutcome.Error);
        result.Error.Should().Be("invalid value \"99999999999999999999x\" for flag -host-port: value out of range");
    }

    [Theory]
    [InlineData("0x4650")]
    [InlineData("017")]
    [InlineData("0b101")]
    [InlineData("1_000")]
    [InlineData("-5")]
    [InlineData("+5")]
    [InlineData("9223372036854775807")]
    [InlineData("-9223372036854775808")]
    public void Valid_numbers_are_accepted_by_both_int_flags(string text)
    {
        FlagParseResult result = GoFlagParser.Parse(["-host-port", text, "--container-port=" + text]);

        result.Outcome.Should().Be(FlagParseOutcome.Run);
        result.Values.Get(Flags.HostPort).Should().Be(text);
        result.Values.Get(Flags.ContainerPort).Should().Be(text);
    }

    [Theory]
    [InlineData("08", "parse error")]
    [InlineData("1__0", "parse error")]
    [InlineData("_1", "parse error")]
    [InlineData("1_", "parse error")]
    [InlineData("0x", "parse error")]
    [InlineData("12a", "parse error")]
    [InlineData("", "parse error")]
    [InlineData(" 1", "parse error")]
    [InlineData("9223372036854775808", "value out of range")]
    [InlineData("-9223372036854775809", "value out of range")]
    public void Invalid_numbers_are_flag_errors_naming_the_flag(string text, string reason)
    {
        FlagParseResult result = GoFlagParser.Parse(["--container-port", text]);

        result.Outcome.Should().Be(FlagParseOutcome.Error);
        result.Error.Should().Be($"invalid value \"{text}\" for flag -container-port: {reason}");
    }
}
