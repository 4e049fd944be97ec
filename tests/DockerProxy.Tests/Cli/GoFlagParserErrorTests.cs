using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>Flag errors and help, in Go's exact wording (flag.go, FlagSet.parseOne and failf).</summary>
public sealed class GoFlagParserErrorTests
{
    private static readonly string[] _valueFlagNames =
    [
        Flags.Proto, Flags.HostIp, Flags.HostPort, Flags.ContainerIp, Flags.ContainerPort, Flags.LogLevel, Flags.LogFormat,
    ];

    public static TheoryData<string[], string> Errors() => new()
    {
        // flag provided but not defined
        { ["-foo"], "flag provided but not defined: -foo" },
        { ["--foo"], "flag provided but not defined: -foo" },
        { ["-foo=bar"], "flag provided but not defined: -foo" },
        { ["--foo=bar"], "flag provided but not defined: -foo" },
        { ["-foo="], "flag provided but not defined: -foo" },
        { ["-Proto", "udp"], "flag provided but not defined: -Proto" },
        { ["-PROTO=udp"], "flag provided but not defined: -PROTO" },
        { ["-hostip", "1.2.3.4"], "flag provided but not defined: -hostip" },
        { ["-host_ip", "1.2.3.4"], "flag provided but not defined: -host_ip" },
        { ["-5"], "flag provided but not defined: -5" },
        { ["-H"], "flag provided but not defined: -H" },
        { ["-V"], "flag provided but not defined: -V" },
        { ["-Help"], "flag provided but not defined: -Help" },
        { ["-helpme"], "flag provided but not defined: -helpme" },
        { ["-hh"], "flag provided but not defined: -hh" },
        { ["-a b"], "flag provided but not defined: -a b" },
        { ["-\u00fc"], "flag provided but not defined: -\u00fc" },
        { ["-proto", "udp", "-x"], "flag provided but not defined: -x" },
        { ["-use-listen-fd", "-container-ip", "1.2.3.4", "-unknown", "-foo"], "flag provided but not defined: -unknown" },

        // bad flag syntax
        { ["---x"], "bad flag syntax: ---x" },
        { ["-=x"], "bad flag syntax: -=x" },
        { ["--=x"], "bad flag syntax: --=x" },
        { ["---"], "bad flag syntax: ---" },
        { ["----"], "bad flag syntax: ----" },
        { ["-="], "bad flag syntax: -=" },
        { ["--="], "bad flag syntax: --=" },
        { ["---proto=udp"], "bad flag syntax: ---proto=udp" },
        { ["-=proto"], "bad flag syntax: -=proto" },
        { ["-proto", "udp", "---help"], "bad flag syntax: ---help" },

        // flag needs an argument
        { ["-use-listen-fd", "-proto"], "flag needs an argument: -proto" },
        { ["--proto"], "flag needs an argument: -proto" },
        { ["-host-port", "1", "--host-port"], "flag needs an argument: -host-port" },

        // invalid boolean value
        { ["-use-listen-fd=yes"], "invalid boolean value \"yes\" for -use-listen-fd: parse error" },
        { ["--use-listen-fd=no"], "invalid boolean value \"no\" for -use-listen-fd: parse error" },
        { ["-use-listen-fd="], "invalid boolean value \"\" for -use-listen-fd: parse error" },
        { ["--v=2"], "invalid boolean value \"2\" for -v: parse error" },
        { ["-v=on"], "invalid boolean value \"on\" for -v: parse error" },
        { ["-v=tRUE"], "invalid boolean value \"tRUE\" for -v: parse error" },
        { ["-v=TrUe"], "invalid boolean value \"TrUe\" for -v: parse error" },
        { ["-v= true"], "invalid boolean value \" true\" for -v: parse error" },
        { ["-v=-1"], "invalid boolean value \"-1\" for -v: parse error" },
        { ["-v=00"], "invalid boolean value \"00\" for -v: parse error" },
        { ["-version=truee"], "invalid boolean value \"truee\" for -version: parse error" },
        { ["-version=y"], "invalid boolean value \"y\" for -version: parse error" },
        { ["-version=a\"b"], "invalid boolean value \"a\\\"b\" for -version: parse error" },
        { ["-version=a\\b"], "invalid boolean value \"a\\\\b\" for -version: parse error" },

        // invalid int
        { ["-host-port", "abc"], "invalid value \"abc\" for flag -host-port: parse error" },
        { ["-host-port="], "invalid value \"\" for flag -host-port: parse error" },
        { ["-host-port", ""], "invalid value \"\" for flag -host-port: parse error" },
        { ["--container-port", "80a"], "invalid value \"80a\" for flag -container-port: parse error" },
        { ["-container-port=08"], "invalid value \"08\" for flag -container-port: parse error" },
        { ["-container-port", " 80"], "invalid value \" 80\" for flag -container-port: parse error" },
        { ["-host-port", "-h"], "invalid value \"-h\" for flag -host-port: parse error" },
        { ["-host-port", "--"], "invalid value \"--\" for flag -host-port: parse error" },
        { ["-host-port=80=81"], "invalid value \"80=81\" for flag -host-port: parse error" },
        { ["-host-port", "8080.0"], "invalid value \"8080.0\" for flag -host-port: parse error" },
        { ["-host-port", "9223372036854775808"], "invalid value \"9223372036854775808\" for flag -host-port: value out of range" },
        { ["-host-port", "-9223372036854775809"], "invalid value \"-9223372036854775809\" for flag -host-port: value out of range" },
        { ["--container-port=0x8000000000000000"], "invalid value \"0x8000000000000000\" for flag -container-port: value out of range" },
        { ["-container-port", "99999999999999999999"], "invalid value \"99999999999999999999\" for flag -container-port: value out of range" },

        // invalid IP
        { ["-host-ip", "127.1"], "invalid value \"127.1\" for flag -host-ip: invalid IP address: 127.1" },
        { ["-host-ip=1.2.3"], "invalid value \"1.2.3\" for flag -host-ip: invalid IP address: 1.2.3" },
        { ["--host-ip", "01.2.3.4"], "invalid value \"01.2.3.4\" for flag -host-ip: invalid IP address: 01.2.3.4" },
        { ["--host-ip=1.2.3.256"], "invalid value \"1.2.3.256\" for flag -host-ip: invalid IP address: 1.2.3.256" },
        { ["-host-ip", "-5"], "invalid value \"-5\" for flag -host-ip: invalid IP address: -5" },
        { ["-host-ip", "localhost"], "invalid value \"localhost\" for flag -host-ip: invalid IP address: localhost" },
        { ["-container-ip", "fe80::1%eth0"], "invalid value \"fe80::1%eth0\" for flag -container-ip: invalid IP address: fe80::1%eth0" },
        { ["-container-ip", "1.2.3.4.5"], "invalid value \"1.2.3.4.5\" for flag -container-ip: invalid IP address: 1.2.3.4.5" },
        { ["-container-ip=-h"], "invalid value \"-h\" for flag -container-ip: invalid IP address: -h" },
        { ["-container-ip", "1.2.3.4:80"], "invalid value \"1.2.3.4:80\" for flag -container-ip: invalid IP address: 1.2.3.4:80" },

        // the first error wins
        { ["-host-port", "abc", "-foo"], "invalid value \"abc\" for flag -host-port: parse error" },
        { ["-foo", "-host-port", "abc"], "flag provided but not defined: -foo" },
        { ["-foo", "-h"], "flag provided but not defined: -foo" },
        { ["---x", "-foo"], "bad flag syntax: ---x" },
        { ["-v=x", "-proto"], "invalid boolean value \"x\" for -v: parse error" },
    };

    public static TheoryData<string[]> Helps() => new()
    {
        { ["-h"] },
        { ["-help"] },
        { ["--help"] },
        { ["--h"] },
        { ["-h=1"] },
        { ["-h=0"] },
        { ["-help=false"] },
        { ["--help=nonsense"] },
        { ["-h", "-foo"] },
        { ["-h", "-host-port", "abc"] },
        { ["-proto", "udp", "-h"] },
        { ["-v", "--help", "x"] },
        { ["-container-ip", "::1", "-h", "---x"] },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Flag_errors_use_gos_wording(string[] argv, string expected)
    {
        FlagParseResult result = GoFlagParser.Parse(argv);

        result.Outcome.Should().Be(FlagParseOutcome.Error);
        result.Error.Should().Be(expected);
    }

    [Theory]
    [MemberData(nameof(Errors))]
    public void An_error_reports_no_values(string[] argv, string expected)
    {
        _ = expected;
        FlagParseResult result = GoFlagParser.Parse(argv);

        foreach (FlagSpec spec in Flags.All)
        {
            result.Values.IsSet(spec.Name).Should().BeFalse();
        }
    }

    [Fact]
    public void Every_value_flag_needs_an_argument_in_both_spellings()
    {
        foreach (string name in _valueFlagNames)
        {
            foreach (string dashes in new[] { "-", "--" })
            {
                FlagParseResult result = GoFlagParser.Parse([dashes + name]);

                result.Outcome.Should().Be(FlagParseOutcome.Error);
                result.Error.Should().Be($"flag needs an argument: -{name}");
            }
        }
    }

    [Fact]
    public void A_bool_flag_as_the_last_argument_needs_no_argument()
    {
        foreach (string name in new[] { Flags.UseListenFd, Flags.VersionShort, Flags.Version })
        {
            GoFlagParser.Parse(["-" + name]).Outcome.Should().Be(FlagParseOutcome.Run);
        }
    }

    [Theory]
    [MemberData(nameof(Helps))]
    public void Help_flags_ask_for_help(string[] argv)
    {
        FlagParseResult result = GoFlagParser.Parse(argv);

        result.Outcome.Should().Be(FlagParseOutcome.Help);
        foreach (FlagSpec spec in Flags.All)
        {
            result.Values.IsSet(spec.Name).Should().BeFalse();
        }
    }

    [Theory]
    [InlineData("x", "-h")]
    [InlineData("--", "-h")]
    [InlineData("-", "--help")]
    [InlineData("-proto", "-h")]
    [InlineData("-log-level", "--help")]
    public void Help_after_the_stop_point_or_as_a_value_is_not_help(params string[] argv)
    {
        GoFlagParser.Parse(argv).Outcome.Should().Be(FlagParseOutcome.Run);
    }
}
