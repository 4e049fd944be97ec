using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>
/// The accepted spellings of Go's flag package (flag.go, FlagSet.parseOne): <c>-f v</c>, <c>-f=v</c>,
/// <c>--f v</c>, <c>--f=v</c>; bools as <c>-f</c> or <c>-f=BOOL</c>; any order; the last occurrence
/// wins; parsing stops at the first non-flag argument or after <c>--</c>.
/// </summary>
public sealed class GoFlagParserSyntaxTests
{
    private static readonly (string Name, string Value)[] _valueFlags =
    [
        (Flags.Proto, "udp"),
        (Flags.HostIp, "127.0.0.1"),
        (Flags.HostPort, "8080"),
        (Flags.ContainerIp, "172.17.0.2"),
        (Flags.ContainerPort, "80"),
        (Flags.LogLevel, "debug"),
        (Flags.LogFormat, "json"),
    ];

    private static readonly string[] _boolFlags = [Flags.UseListenFd, Flags.VersionShort, Flags.Version];

    public static TheoryData<string, string, string[]> ValueFlagSpellings()
    {
        var data = new TheoryData<string, string, string[]>();
        foreach ((string name, string value) in _valueFlags)
        {
            data.Add(name, value, ["-" + name, value]);
            data.Add(name, value, ["-" + name + "=" + value]);
            data.Add(name, value, ["--" + name, value]);
            data.Add(name, value, ["--" + name + "=" + value]);
        }

        return data;
    }

    public static TheoryData<string, string, bool> BoolFlagSpellings()
    {
        string[] trueValues = ["1", "t", "T", "true", "TRUE", "True"];
        string[] falseValues = ["0", "f", "F", "false", "FALSE", "False"];
        var data = new TheoryData<string, string, bool>();
        foreach (string name in _boolFlags)
        {
            data.Add(name, "-" + name, true);
            data.Add(name, "--" + name, true);
            foreach (string value in trueValues)
            {
                data.Add(name, "-" + name + "=" + value, true);
                data.Add(name, "--" + name + "=" + value, true);
            }

            foreach (string value in falseValues)
            {
                data.Add(name, "-" + name + "=" + value, false);
                data.Add(name, "--" + name + "=" + value, false);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ValueFlagSpellings))]
    public void Value_flag_is_read_in_every_go_spelling(string name, string value, string[] argv)
    {
        FlagValues values = ParseRun(argv);

        values.IsSet(name).Should().BeTrue();
        values.Get(name).Should().Be(value);
    }

    [Theory]
    [MemberData(nameof(BoolFlagSpellings))]
    public void Bool_flag_is_read_bare_or_with_a_strconv_bool(string name, string arg, bool expected)
    {
        FlagValues values = ParseRun(arg);

        values.IsSet(name).Should().BeTrue();
        GoSyntax.ParseBool(values.Get(name)!).Should().Be(expected);
    }

    [Fact]
    public void Empty_argv_sets_nothing()
    {
        FlagValues values = ParseRun();

        foreach (FlagSpec spec in Flags.All)
        {
            values.IsSet(spec.Name).Should().BeFalse();
            values.Get(spec.Name).Should().BeNull();
        }
    }

    [Fact]
    public void A_full_original_command_line_is_read()
    {
        FlagValues values = ParseRun(
            "-proto", "tcp", "-host-ip", "0.0.0.0", "-host-port", "8080",
            "-container-ip", "172.17.0.2", "-container-port", "80", "-use-listen-fd");

        values.Get(Flags.Proto).Should().Be("tcp");
        values.Get(Flags.HostIp).Should().Be("0.0.0.0");
        values.Get(Flags.HostPort).Should().Be("8080");
        values.Get(Flags.ContainerIp).Should().Be("172.17.0.2");
        values.Get(Flags.ContainerPort).Should().Be("80");
        GoSyntax.ParseBool(values.Get(Flags.UseListenFd)!).Should().BeTrue();
        values.IsSet(Flags.Version).Should().BeFalse();
        values.IsSet(Flags.VersionShort).Should().BeFalse();
    }

    [Theory]
    [InlineData("-proto", "udp", "-host-port", "1", "-container-ip", "10.0.0.2", "-container-port", "2")]
    [InlineData("-container-port", "2", "-container-ip", "10.0.0.2", "-host-port", "1", "-proto", "udp")]
    [InlineData("--container-ip=10.0.0.2", "-proto=udp", "--container-port", "2", "-host-port", "1")]
    [InlineData("-host-port=1", "--proto", "udp", "-container-port=2", "--container-ip", "10.0.0.2")]
    public void Order_does_not_matter(params string[] argv)
    {
        FlagValues values = ParseRun(argv);

        values.Get(Flags.Proto).Should().Be("udp");
        values.Get(Flags.HostPort).Should().Be("1");
        values.Get(Flags.ContainerIp).Should().Be("10.0.0.2");
        values.Get(Flags.ContainerPort).Should().Be("2");
    }

    [Theory]
    [InlineData(Flags.Proto, "sctp", new[] { "-proto", "tcp", "-proto", "sctp" })]
    [InlineData(Flags.Proto, "sctp", new[] { "--proto=udp", "-proto", "sctp" })]
    [InlineData(Flags.Proto, "udp", new[] { "-proto=sctp", "-host-port", "1", "--proto", "udp" })]
    [InlineData(Flags.HostPort, "2", new[] { "-host-port", "1", "-host-port=2" })]
    [InlineData(Flags.HostPort, "0x10", new[] { "-host-port=9", "-proto", "udp", "--host-port", "0x10" })]
    [InlineData(Flags.HostIp, "::1", new[] { "-host-ip", "127.0.0.1", "-host-ip", "::1" })]
    [InlineData(Flags.HostIp, "", new[] { "-host-ip", "127.0.0.1", "-host-ip=" })]
    [InlineData(Flags.ContainerIp, "10.0.0.3", new[] { "-container-ip=10.0.0.2", "--container-ip=10.0.0.3" })]
    [InlineData(Flags.ContainerPort, "443", new[] { "-container-port", "80", "-container-port", "443" })]
    [InlineData(Flags.LogLevel, "error", new[] { "-log-level", "debug", "-log-level", "error" })]
    [InlineData(Flags.LogFormat, "text", new[] { "-log-format", "json", "--log-format=text" })]
    public void The_last_occurrence_wins(string name, string expected, string[] argv)
    {
        ParseRun(argv).Get(name).Should().Be(expected);
    }

    [Theory]
    [InlineData(false, new[] { "-use-listen-fd", "-use-listen-fd=false" })]
    [InlineData(true, new[] { "-use-listen-fd=false", "-use-listen-fd" })]
    [InlineData(true, new[] { "-use-listen-fd=0", "--use-listen-fd=T" })]
    [InlineData(false, new[] { "--use-listen-fd", "-proto", "udp", "-use-listen-fd=F" })]
    public void The_last_occurrence_of_a_bool_wins(bool expected, string[] argv)
    {
        GoSyntax.ParseBool(ParseRun(argv).Get(Flags.UseListenFd)!).Should().Be(expected);
    }

    [Theory]
    [InlineData("-use-listen-fd", "false")]
    [InlineData("-use-listen-fd", "true")]
    [InlineData("-v", "0")]
    [InlineData("--version", "false")]
    public void A_bool_flag_does_not_consume_the_next_argument(string flag, string next)
    {
        // "-use-listen-fd false": the bool is set to true, and "false" is the first non-flag argument.
        FlagValues values = ParseRun(flag, next, "-proto", "udp");

        GoSyntax.ParseBool(values.Get(flag.TrimStart('-'))!).Should().BeTrue();
        values.IsSet(Flags.Proto).Should().BeFalse();
    }

    [Theory]
    [InlineData(Flags.Proto, "-v")]
    [InlineData(Flags.Proto, "--")]
    [InlineData(Flags.Proto, "-")]
    [InlineData(Flags.Proto, "-h")]
    [InlineData(Flags.Proto, "--help")]
    [InlineData(Flags.Proto, "-foo")]
    [InlineData(Flags.Proto, "---x")]
    [InlineData(Flags.Proto, "--proto=udp")]
    [InlineData(Flags.Proto, "")]
    [InlineData(Flags.LogLevel, "-host-port")]
    [InlineData(Flags.LogFormat, "-=x")]
    [InlineData(Flags.HostPort, "-5")]
    [InlineData(Flags.HostPort, "-0x10")]
    [InlineData(Flags.ContainerPort, "-1")]
    [InlineData(Flags.HostIp, "")]
    [InlineData(Flags.ContainerIp, "")]
    public void A_value_flag_takes_the_next_argument_whatever_it_looks_like(string name, string next)
    {
        FlagValues values = ParseRun("-" + name, next);

        values.Get(name).Should().Be(next);
    }

    [Fact]
    public void A_value_flag_swallowing_a_flag_leaves_that_flag_unset()
    {
        FlagValues values = ParseRun("-proto", "-use-listen-fd", "-host-port", "1");

        values.Get(Flags.Proto).Should().Be("-use-listen-fd");
        values.IsSet(Flags.UseListenFd).Should().BeFalse();
        values.Get(Flags.HostPort).Should().Be("1");
    }

    [Theory]
    [InlineData("-proto=a=b", "a=b")]
    [InlineData("-proto==udp", "=udp")]
    [InlineData("--proto=", "")]
    [InlineData("-proto=t c p", "t c p")]
    [InlineData("-proto=\u00fcdp", "\u00fcdp")]
    [InlineData("-log-level=-debug", "-debug")]
    public void The_value_after_the_first_equals_sign_is_taken_verbatim(string arg, string expected)
    {
        ParseRun(arg).Get(arg.TrimStart('-').Split('=')[0]).Should().Be(expected);
    }

    [Theory]
    [InlineData("-proto", "udp", "x", "-proto", "sctp")]
    [InlineData("-proto", "udp", "-", "-proto", "sctp")]
    [InlineData("-proto", "udp", "", "-proto", "sctp")]
    [InlineData("-proto", "udp", "--", "-proto", "sctp")]
    [InlineData("-proto", "udp", "--", "--", "-proto", "sctp")]
    [InlineData("-proto", "udp", "5", "-proto", "sctp")]
    [InlineData("-proto", "udp", "x", "-foo")]
    [InlineData("-proto", "udp", "x", "-h")]
    [InlineData("-proto", "udp", "--", "-foo")]
    [InlineData("-proto", "udp", "--", "-host-port", "abc")]
    [InlineData("-proto", "udp", "x", "---x")]
    [InlineData("-proto", "udp", "x", "-host-port")]
    [InlineData("-proto", "udp", "run", "-help")]
    public void Parsing_stops_at_the_first_non_flag_argument_or_after_double_dash(params string[] argv)
    {
        FlagValues values = ParseRun(argv);

        values.Get(Flags.Proto).Should().Be("udp");
        values.IsSet(Flags.HostPort).Should().BeFalse();
    }

    [Theory]
    [InlineData("x", "-proto", "udp")]
    [InlineData("-", "-proto", "udp")]
    [InlineData("--", "-proto", "udp")]
    [InlineData("", "-proto", "udp")]
    [InlineData("tcp", "-proto", "udp")]
    [InlineData("udp")]
    [InlineData("--")]
    [InlineData("-")]
    public void Nothing_is_read_when_the_first_argument_is_not_a_flag(params string[] argv)
    {
        FlagValues values = ParseRun(argv);

        foreach (FlagSpec spec in Flags.All)
        {
            values.IsSet(spec.Name).Should().BeFalse();
        }
    }

    [Fact]
    public void Flags_before_the_stop_point_are_kept()
    {
        FlagValues values = ParseRun("-v", "--host-port=1", "-container-ip", "::1", "stop", "-proto", "udp");

        GoSyntax.ParseBool(values.Get(Flags.VersionShort)!).Should().BeTrue();
        values.Get(Flags.HostPort).Should().Be("1");
        values.Get(Flags.ContainerIp).Should().Be("::1");
        values.IsSet(Flags.Proto).Should().BeFalse();
    }

    private static FlagValues ParseRun(params string[] argv)
    {
        FlagParseResult result = GoFlagParser.Parse(argv);
        result.Outcome.Should().Be(FlagParseOutcome.Run, "argv [{0}] is valid (error: {1})", string.Join(" ", argv), result.Error);
        return result.Values;
    }
}
