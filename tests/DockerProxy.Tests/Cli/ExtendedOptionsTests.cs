using DockerProxy.Cli;
using DockerProxy.Hosting;
using DockerProxy.Relay.Tcp;

namespace DockerProxy.Tests.Cli;

/// <summary>Our options beyond the original's: each from its flag or its environment variable,
/// the flag winning; invalid values named in one start-up failure.</summary>
public sealed class ExtendedOptionsTests
{
    private static readonly string[] Base = ["-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "80"];

    [Fact]
    public void Defaults_behave_as_the_original()
    {
        ProxyOptions options = Bind([]);

        options.UdpTimeout.Should().Be(TimeSpan.FromSeconds(90));
        options.UdpMaxSessions.Should().Be(65536);
        options.UdpBusyPoll.Should().Be(TimeSpan.FromMicroseconds(50));
        options.TcpBusyPoll.Should().Be(TimeSpan.FromMicroseconds(50));
        options.CopyMode.Should().Be(CopyMode.Splice);
        options.ConnectTimeout.Should().BeNull();
        options.IdleTimeout.Should().BeNull();
        options.MaxConnections.Should().BeNull();
        options.User.Should().BeNull();
    }

    [Theory]
    [InlineData("-udp-timeout", "30s", "DOCKER_PROXY_UDP_TIMEOUT")]
    [InlineData("-connect-timeout", "1.5s", "DOCKER_PROXY_CONNECT_TIMEOUT")]
    [InlineData("-idle-timeout", "2h45m", "DOCKER_PROXY_IDLE_TIMEOUT")]
    public void Durations_come_from_the_flag_or_the_variable_and_the_flag_wins(string flag, string value, string variable)
    {
        GoDuration.TryParse(value, out TimeSpan expected).Should().BeTrue();

        Read(Bind([flag, value]), flag).Should().Be(expected);
        Read(Bind([], new() { [variable] = value }), flag).Should().Be(expected);
        Read(Bind([flag, value], new() { [variable] = "999h" }), flag).Should().Be(expected);
    }

    [Theory]
    [InlineData("-udp-timeout", "0s")]
    [InlineData("-udp-timeout", "-5s")]
    [InlineData("-idle-timeout", "0")]
    [InlineData("-connect-timeout", "-1ms")]
    public void Durations_must_be_positive(string flag, string value)
    {
        Action bind = () => Bind([flag, value]);

        bind.Should().Throw<StartupException>().WithMessage($"invalid {flag} \"{value}\": must be a positive Go duration*");
    }

    [Fact]
    public void A_bad_duration_in_the_environment_is_named_by_its_variable()
    {
        Action bind = () => Bind([], new() { ["DOCKER_PROXY_UDP_TIMEOUT"] = "soon" });

        bind.Should().Throw<StartupException>().WithMessage("invalid DOCKER_PROXY_UDP_TIMEOUT \"soon\"*");
    }

    [Theory]
    [InlineData("udp", "0", 0)]
    [InlineData("udp", "0s", 0)]
    [InlineData("udp", "20us", 20)]
    [InlineData("udp", "20µs", 20)]
    [InlineData("udp", "1ms", 1000)]
    [InlineData("tcp", "0", 0)]
    [InlineData("tcp", "20us", 20)]
    [InlineData("tcp", "1ms", 1000)]
    public void Busy_poll_from_zero_to_a_millisecond(string proto, string value, int microseconds)
    {
        TimeSpan expected = TimeSpan.FromMicroseconds(microseconds);
        (string flag, string variable) = BusyPollNames(proto);

        BusyPoll(proto, Bind([flag, value])).Should().Be(expected);
        BusyPoll(proto, Bind([], new() { [variable] = value })).Should().Be(expected);
        BusyPoll(proto, Bind([flag, value], new() { [variable] = "7us" })).Should().Be(expected);
    }

    [Fact]
    public void Each_busy_poll_sets_its_own_loop()
    {
        ProxyOptions options = Bind(["-tcp-busy-poll", "0"]);

        options.TcpBusyPoll.Should().Be(TimeSpan.Zero);
        options.UdpBusyPoll.Should().Be(TimeSpan.FromMicroseconds(50));
        Bind(["-udp-busy-poll", "0"]).TcpBusyPoll.Should().Be(TimeSpan.FromMicroseconds(50));
    }

    [Theory]
    [InlineData("udp", "-1us")]
    [InlineData("udp", "1001us")]
    [InlineData("udp", "2ms")]
    [InlineData("tcp", "-1us")]
    [InlineData("tcp", "2ms")]
    public void Busy_poll_out_of_range_is_refused(string proto, string value)
    {
        (string flag, string variable) = BusyPollNames(proto);
        Action byFlag = () => Bind([flag, value]);
        Action byVariable = () => Bind([], new() { [variable] = value });

        byFlag.Should().Throw<StartupException>().WithMessage($"invalid {flag} \"{value}\": must be a Go duration from 0 to 1ms*");
        byVariable.Should().Throw<StartupException>().WithMessage($"invalid {variable} \"{value}\": must be a Go duration from 0 to 1ms*");
    }

    [Theory]
    [InlineData("udp")]
    [InlineData("tcp")]
    public void A_busy_poll_that_is_no_duration_is_refused(string proto)
    {
        string variable = BusyPollNames(proto).Variable;
        Action bind = () => Bind([], new() { [variable] = "soon" });

        bind.Should().Throw<StartupException>().WithMessage($"invalid {variable} \"soon\"*");
    }

    private static (string Flag, string Variable) BusyPollNames(string proto) =>
        ($"-{proto}-busy-poll", $"DOCKER_PROXY_{proto.ToUpperInvariant()}_BUSY_POLL");

    private static TimeSpan BusyPoll(string proto, ProxyOptions options) => proto == "udp" ? options.UdpBusyPoll : options.TcpBusyPoll;

    [Theory]
    [InlineData("1", 1)]
    [InlineData("0x100", 256)]
    [InlineData("16777216", 16777216)]
    public void Max_sessions_in_range(string value, int expected)
    {
        Bind(["-udp-max-sessions", value]).UdpMaxSessions.Should().Be(expected);
        Bind([], new() { ["DOCKER_PROXY_UDP_MAX_SESSIONS"] = value }).UdpMaxSessions.Should().Be(expected);
    }

    [Theory]
    [InlineData("-udp-max-sessions", "0")]
    [InlineData("-udp-max-sessions", "16777217")]
    [InlineData("-max-connections", "0")]
    [InlineData("-max-connections", "-3")]
    public void Counts_out_of_range_are_refused(string flag, string value)
    {
        Action bind = () => Bind([flag, value]);

        bind.Should().Throw<StartupException>().WithMessage($"invalid {flag} \"{value}\": must be *");
    }

    [Fact]
    public void Max_connections_user_and_copy_mode_are_read()
    {
        ProxyOptions options = Bind(["-max-connections", "100", "-user", "nobody", "-copy-mode", "pipelines"]);

        options.MaxConnections.Should().Be(100);
        options.User.Should().Be("nobody");
        options.CopyMode.Should().Be(CopyMode.Pipelines);
        options.Tcp.Should().Be(new TcpRelayOptions(CopyMode.Pipelines) { MaxConnections = 100 });
    }

    [Fact]
    public void A_bad_copy_mode_lists_the_choices()
    {
        Action bind = () => Bind([], new() { ["DOCKER_PROXY_COPY_MODE"] = "memcpy" });

        bind.Should().Throw<StartupException>().WithMessage("invalid DOCKER_PROXY_COPY_MODE \"memcpy\": must be splice or pipelines");
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        Action bind = () => Bind(["-log-level", "loud", "-udp-timeout", "0s"], new() { ["DOCKER_PROXY_MAX_CONNECTIONS"] = "none" });

        string message = bind.Should().Throw<StartupException>().Which.Message;
        message.Split("; ").Should().HaveCount(3);
        message.Should().Contain("-log-level").And.Contain("-udp-timeout").And.Contain("DOCKER_PROXY_MAX_CONNECTIONS");
    }

    [Theory]
    [InlineData("90s", 90_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("2h45m", 9_900_000)]
    [InlineData("300ms", 300)]
    [InlineData("1m30.5s", 90_500)]
    [InlineData("0", 0)]
    [InlineData("+5s", 5_000)]
    [InlineData("-1.5h", -5_400_000)]
    [InlineData("1000us", 1)]
    [InlineData("1000µs", 1)]
    [InlineData("1000000ns", 1)]
    public void Go_durations_parse(string text, long milliseconds)
    {
        GoDuration.TryParse(text, out TimeSpan duration).Should().BeTrue();
        duration.Should().Be(TimeSpan.FromMilliseconds(milliseconds));
    }

    [Theory]
    [InlineData("")]
    [InlineData("5")]
    [InlineData("s")]
    [InlineData("1d")]
    [InlineData("1.2.3s")]
    [InlineData(".s")]
    [InlineData("1h-5m")]
    [InlineData(" 5s")]
    [InlineData("99999999999h")]
    public void Go_durations_refuse_what_Go_refuses(string text)
    {
        GoDuration.TryParse(text, out _).Should().BeFalse();
    }

    private static TimeSpan? Read(ProxyOptions options, string flag) => flag switch
    {
        "-udp-timeout" => options.UdpTimeout,
        "-connect-timeout" => options.ConnectTimeout,
        _ => options.IdleTimeout,
    };

    private static ProxyOptions Bind(string[] extra, Dictionary<string, string>? environment = null)
    {
        FlagParseResult result = GoFlagParser.Parse([.. Base, .. extra]);
        result.Outcome.Should().Be(FlagParseOutcome.Run, result.Error);
        environment ??= [];
        return OptionsBinder.Bind(result.Values, name => environment.TryGetValue(name, out string? value) ? value : null);
    }
}
