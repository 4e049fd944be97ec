using System.Net;
using System.Net.Sockets;
using DockerProxy.Cli;
using DockerProxy.Hosting;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Tests.Cli;

/// <summary>From parsed flags (and the environment, for our own options) to validated <see cref="ProxyOptions"/>.</summary>
public sealed class OptionsBinderTests
{
    private const string LevelVariable = "DOCKER_PROXY_LOG_LEVEL";
    private const string FormatVariable = "DOCKER_PROXY_LOG_FORMAT";

    private static readonly string[] _valid = ["-container-ip", "172.17.0.2", "-container-port", "80", "-host-port", "8080"];

    [Fact]
    public void A_minimal_command_line_gets_the_defaults()
    {
        ProxyOptions options = Bind(_valid);

        options.Proto.Should().Be("tcp");
        options.Host.Should().Be(new IPEndPoint(IPAddress.Any, 8080));
        options.Container.Should().Be(new IPEndPoint(IPAddress.Parse("172.17.0.2"), 80));
        options.UseListenFd.Should().BeFalse();
        options.LogLevel.Should().Be(LogLevel.Information);
        options.LogFormat.Should().Be(LogFormat.Text);
    }

    [Fact]
    public void A_full_original_command_line_is_bound()
    {
        ProxyOptions options = Bind(
            "-proto", "udp", "-host-ip", "127.0.0.1", "-host-port", "5353",
            "-container-ip", "172.17.0.2", "-container-port", "53", "-use-listen-fd");

        options.Should().Be(new ProxyOptions(
            "udp",
            new IPEndPoint(IPAddress.Loopback, 5353),
            new IPEndPoint(IPAddress.Parse("172.17.0.2"), 53),
            true));
    }

    [Theory]
    [InlineData("tcp")]
    [InlineData("udp")]
    [InlineData("sctp")]
    public void Supported_protocols_are_kept(string proto)
    {
        Bind([.. _valid, "-proto", proto]).Proto.Should().Be(proto);
    }

    [Theory]
    [InlineData("TCP")]
    [InlineData("Udp")]
    [InlineData("SCTP")]
    [InlineData("icmp")]
    [InlineData("tcp4")]
    [InlineData("udp6")]
    [InlineData("tcp ")]
    [InlineData(" udp")]
    [InlineData("")]
    [InlineData("-h")]
    public void Other_protocols_are_refused(string proto)
    {
        Action bind = () => Bind([.. _valid, "-proto", proto]);

        bind.Should().Throw<StartupException>().Which.Message.Should().Be($"unsupported protocol {proto}");
    }

    [Fact]
    public void An_unsupported_protocol_is_reported_alone_with_the_newest_originals_exact_text()
    {
        // dockerd shows this text to the user; 28.5 writes exactly "unsupported protocol X", so the
        // other problems (here: no container address) are not appended.
        Action bind = () => Bind("-proto", "icmp", "-container-port", "80", "-host-port", "8080");

        bind.Should().Throw<StartupException>().Which.Message.Should().Be("unsupported protocol icmp");
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("::1", "::1")]
    [InlineData("::", "::")]
    [InlineData("fe80::1", "fe80::1")]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:0.0.0.0", "0.0.0.0")]
    [InlineData("0:0:0:0:0:ffff:a01:203", "10.1.2.3")]
    public void The_host_address_is_bound_and_ipv4_mapped_becomes_ipv4(string text, string expected)
    {
        IPEndPoint host = Bind([.. _valid, "-host-ip", text]).Host;

        host.Address.Should().Be(IPAddress.Parse(expected));
        host.Address.AddressFamily.Should().Be(IPAddress.Parse(expected).AddressFamily);
    }

    [Fact]
    public void An_empty_host_address_listens_on_every_address()
    {
        IPAddress address = Bind([.. _valid, "-host-ip="]).Host.Address;

        (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)).Should().BeTrue();
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("1", 1)]
    [InlineData("8080", 8080)]
    [InlineData("65535", 65535)]
    [InlineData("0x4650", 18000)]
    [InlineData("0x1F90", 8080)]
    [InlineData("017", 15)]
    [InlineData("0o17", 15)]
    [InlineData("0b101", 5)]
    [InlineData("1_000", 1000)]
    [InlineData("+443", 443)]
    [InlineData("-0", 0)]
    public void Host_ports_from_0_to_65535_are_accepted_in_any_go_spelling(string text, int expected)
    {
        Bind("-container-ip", "172.17.0.2", "-container-port", "80", "-host-port", text).Host.Port.Should().Be(expected);
    }

    [Theory]
    [InlineData("-1", "-1")]
    [InlineData("65536", "65536")]
    [InlineData("70000", "70000")]
    [InlineData("0x10000", "65536")]
    [InlineData("-0x1", "-1")]
    [InlineData("-65535", "-65535")]
    [InlineData("4294967376", "4294967376")]
    [InlineData("9223372036854775807", "9223372036854775807")]
    [InlineData("-9223372036854775808", "-9223372036854775808")]
    public void Host_ports_out_of_range_are_refused_with_the_number(string text, string number)
    {
        Action bind = () => Bind("-container-ip", "172.17.0.2", "-container-port", "80", "-host-port", text);

        bind.Should().Throw<StartupException>().Which.Message.Should().Contain($"invalid host port {number}");
    }

    [Fact]
    public void A_missing_host_port_is_refused()
    {
        Action bind = () => Bind("-container-ip", "172.17.0.2", "-container-port", "80");

        string message = bind.Should().Throw<StartupException>().Which.Message;
        message.Should().Contain("missing -host-port");
        message.Should().NotContain("invalid host port");
    }

    [Theory]
    [InlineData("172.17.0.2", "172.17.0.2")]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("::1", "::1")]
    [InlineData("fd00::2", "fd00::2")]
    [InlineData("::ffff:172.17.0.2", "172.17.0.2")]
    [InlineData("0:0:0:0:0:ffff:ac11:2", "172.17.0.2")]
    public void The_container_address_is_bound_and_ipv4_mapped_becomes_ipv4(string text, string expected)
    {
        IPEndPoint container = Bind("-host-port", "8080", "-container-port", "80", "-container-ip", text).Container;

        container.Address.Should().Be(IPAddress.Parse(expected));
        container.Address.AddressFamily.Should().Be(IPAddress.Parse(expected).AddressFamily);
        container.Port.Should().Be(80);
    }

    [Theory]
    [InlineData("-host-port", "8080", "-container-port", "80")]
    [InlineData("-host-port", "8080", "-container-port", "80", "-container-ip=")]
    [InlineData("-host-port", "8080", "-container-port", "80", "-container-ip", "0.0.0.0")]
    [InlineData("-host-port", "8080", "-container-port", "80", "-container-ip", "::")]
    [InlineData("-host-port", "8080", "-container-port", "80", "-container-ip", "0:0:0:0:0:0:0:0")]
    public void A_missing_or_unspecified_container_address_is_refused(params string[] argv)
    {
        Action bind = () => Bind(argv);

        bind.Should().Throw<StartupException>().Which.Message.Should().MatchRegex("container.ip");
    }

    // "::ffff:0.0.0.0" is 0.0.0.0 once the IPv4-mapped address becomes IPv4 (and Go's IsUnspecified says
    // so too): it must be refused like 0.0.0.0, not become the relay's destination.
    [Fact]
    public void An_ipv4_mapped_unspecified_container_address_is_refused()
    {
        Action bind = () => Bind("-host-port", "8080", "-container-port", "80", "-container-ip", "::ffff:0.0.0.0");

        bind.Should().Throw<StartupException>().Which.Message.Should().MatchRegex("container.ip");
    }

    [Theory]
    [InlineData("1", 1)]
    [InlineData("80", 80)]
    [InlineData("65535", 65535)]
    [InlineData("0x50", 80)]
    [InlineData("0120", 80)]
    [InlineData("8_0", 80)]
    public void Container_ports_from_1_to_65535_are_accepted(string text, int expected)
    {
        Bind("-host-port", "8080", "-container-ip", "172.17.0.2", "-container-port", text).Container.Port.Should().Be(expected);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("65536")]
    [InlineData("70000")]
    [InlineData("0x0")]
    [InlineData("9223372036854775807")]
    public void Container_ports_out_of_range_are_refused(string text)
    {
        Action bind = () => Bind("-host-port", "8080", "-container-ip", "172.17.0.2", "-container-port", text);

        string message = bind.Should().Throw<StartupException>().Which.Message;
        message.Should().MatchRegex("container.port");
    }

    [Fact]
    public void A_missing_container_port_is_refused()
    {
        Action bind = () => Bind("-host-port", "8080", "-container-ip", "172.17.0.2");

        bind.Should().Throw<StartupException>().Which.Message.Should().MatchRegex("container.port");
    }

    [Fact]
    public void Every_problem_is_reported_in_one_message()
    {
        Action bind = () => Bind("-proto", "udp");

        string message = bind.Should().Throw<StartupException>().Which.Message;
        string[] parts = message.Split("; ");
        parts.Should().HaveCount(3);
        parts[0].Should().Contain("missing -host-port");
        message.Should().MatchRegex("container.ip").And.MatchRegex("container.port");
    }

    [Fact]
    public void Every_problem_including_the_log_options_is_reported_in_one_message()
    {
        Action bind = () => Bind(
            ["-host-port", "70000", "-container-ip", "0.0.0.0", "-container-port", "0", "-log-level", "loud"],
            new Dictionary<string, string> { [FormatVariable] = "xml" });

        string message = bind.Should().Throw<StartupException>().Which.Message;
        string[] parts = message.Split("; ");
        parts.Should().HaveCount(5);
        parts.Should().OnlyContain(part => part.Length > 0);
        message.Should().Contain("invalid host port 70000")
            .And.Contain("loud")
            .And.Contain(FormatVariable)
            .And.Contain("xml");
    }

    [Theory]
    [InlineData("debug", LogLevel.Debug)]
    [InlineData("info", LogLevel.Information)]
    [InlineData("warn", LogLevel.Warning)]
    [InlineData("error", LogLevel.Error)]
    public void The_log_level_is_set_by_flag_or_environment(string text, LogLevel expected)
    {
        Bind([.. _valid, "-log-level", text]).LogLevel.Should().Be(expected);
        Bind([.. _valid, "--log-level=" + text]).LogLevel.Should().Be(expected);
        Bind(_valid, new Dictionary<string, string> { [LevelVariable] = text }).LogLevel.Should().Be(expected);
    }

    [Theory]
    [InlineData("text", "Text")]
    [InlineData("json", "Json")]
    public void The_log_format_is_set_by_flag_or_environment(string text, string expectedName)
    {
        LogFormat expected = Enum.Parse<LogFormat>(expectedName);
        Bind([.. _valid, "-log-format", text]).LogFormat.Should().Be(expected);
        Bind([.. _valid, "--log-format=" + text]).LogFormat.Should().Be(expected);
        Bind(_valid, new Dictionary<string, string> { [FormatVariable] = text }).LogFormat.Should().Be(expected);
    }

    [Theory]
    [InlineData("debug", "error", LogLevel.Debug)]
    [InlineData("error", "debug", LogLevel.Error)]
    [InlineData("info", "warn", LogLevel.Information)]
    [InlineData("warn", "nonsense", LogLevel.Warning)]
    public void The_log_level_flag_wins_over_the_variable(string flag, string variable, LogLevel expected)
    {
        Bind([.. _valid, "-log-level", flag], new Dictionary<string, string> { [LevelVariable] = variable })
            .LogLevel.Should().Be(expected);
    }

    [Theory]
    [InlineData("json", "text")]
    [InlineData("text", "json")]
    [InlineData("json", "nonsense")]
    public void The_log_format_flag_wins_over_the_variable(string flag, string variable)
    {
        LogFormat expected = flag == "json" ? LogFormat.Json : LogFormat.Text;
        Bind([.. _valid, "-log-format", flag], new Dictionary<string, string> { [FormatVariable] = variable })
            .LogFormat.Should().Be(expected);
    }

    [Theory]
    [InlineData("trace")]
    [InlineData("verbose")]
    [InlineData("warning")]
    [InlineData("information")]
    [InlineData("fatal")]
    [InlineData("5")]
    public void An_invalid_log_level_flag_is_refused(string text)
    {
        Action bind = () => Bind([.. _valid, "-log-level", text]);

        bind.Should().Throw<StartupException>().Which.Message.Should().Contain("-log-level").And.Contain(text);
    }

    [Theory]
    [InlineData("trace")]
    [InlineData("warning")]
    [InlineData("information")]
    public void An_invalid_log_level_variable_is_refused_naming_the_variable(string text)
    {
        Action bind = () => Bind(_valid, new Dictionary<string, string> { [LevelVariable] = text });

        bind.Should().Throw<StartupException>().Which.Message.Should().Contain(LevelVariable).And.Contain(text);
    }

    [Theory]
    [InlineData("xml")]
    [InlineData("jsonl")]
    [InlineData("logfmt")]
    [InlineData("plain")]
    public void An_invalid_log_format_is_refused_by_flag_or_variable(string text)
    {
        Action byFlag = () => Bind([.. _valid, "-log-format", text]);
        Action byVariable = () => Bind(_valid, new Dictionary<string, string> { [FormatVariable] = text });

        byFlag.Should().Throw<StartupException>().Which.Message.Should().Contain("-log-format").And.Contain(text);
        byVariable.Should().Throw<StartupException>().Which.Message.Should().Contain(FormatVariable).And.Contain(text);
    }

    [Fact]
    public void The_variables_are_read_under_their_exact_names()
    {
        var environment = new Dictionary<string, string>
        {
            ["docker_proxy_log_level"] = "debug",
            ["DOCKER_PROXY_LOGLEVEL"] = "debug",
            ["LOG_FORMAT"] = "json",
        };

        ProxyOptions options = Bind(_valid, environment);

        options.LogLevel.Should().Be(LogLevel.Information);
        options.LogFormat.Should().Be(LogFormat.Text);
    }

    [Fact]
    public void Both_variables_are_read_together()
    {
        var environment = new Dictionary<string, string> { [LevelVariable] = "error", [FormatVariable] = "json" };

        ProxyOptions options = Bind(_valid, environment);

        options.LogLevel.Should().Be(LogLevel.Error);
        options.LogFormat.Should().Be(LogFormat.Json);
    }

    [Theory]
    [InlineData(true, new[] { "-use-listen-fd" })]
    [InlineData(true, new[] { "--use-listen-fd" })]
    [InlineData(true, new[] { "-use-listen-fd=true" })]
    [InlineData(true, new[] { "-use-listen-fd=1" })]
    [InlineData(true, new[] { "-use-listen-fd=t" })]
    [InlineData(true, new[] { "-use-listen-fd=T" })]
    [InlineData(true, new[] { "-use-listen-fd=TRUE" })]
    [InlineData(true, new[] { "--use-listen-fd=True" })]
    [InlineData(false, new[] { "-use-listen-fd=false" })]
    [InlineData(false, new[] { "-use-listen-fd=0" })]
    [InlineData(false, new[] { "-use-listen-fd=f" })]
    [InlineData(false, new[] { "-use-listen-fd=F" })]
    [InlineData(false, new[] { "-use-listen-fd=FALSE" })]
    [InlineData(false, new[] { "--use-listen-fd=False" })]
    [InlineData(false, new[] { "-use-listen-fd", "-use-listen-fd=false" })]
    [InlineData(true, new[] { "-use-listen-fd=false", "-use-listen-fd" })]
    [InlineData(false, new[] { "-v" })]
    public void Use_listen_fd_follows_the_flag(bool expected, string[] extra)
    {
        Bind([.. _valid, .. extra]).UseListenFd.Should().Be(expected);
    }

    [Theory]
    [InlineData("-v")]
    [InlineData("-version")]
    [InlineData("--version=false")]
    public void The_version_flags_do_not_disturb_binding(string flag)
    {
        Bind([.. _valid, flag]).Should().Be(Bind(_valid));
    }

    private static ProxyOptions Bind(params string[] argv) => Bind(argv, new Dictionary<string, string>());

    private static ProxyOptions Bind(string[] argv, Dictionary<string, string> environment)
    {
        FlagParseResult result = GoFlagParser.Parse(argv);
        result.Outcome.Should().Be(FlagParseOutcome.Run, "argv [{0}] parses (error: {1})", string.Join(" ", argv), result.Error);
        return OptionsBinder.Bind(result.Values, name => environment.TryGetValue(name, out string? value) ? value : null);
    }
}
