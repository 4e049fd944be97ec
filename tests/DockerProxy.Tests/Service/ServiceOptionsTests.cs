using System.Net;
using DockerProxy.Cli;
using DockerProxy.Hosting;

namespace DockerProxy.Tests.Service;

/// <summary>-drain-timeout and -metrics-listen: from the flag or the variable, off by default, bad values named.</summary>
public sealed class ServiceOptionsTests
{
    private static readonly string[] Base = ["-host-port", "0", "-container-ip", "127.0.0.1", "-container-port", "80"];

    [Fact]
    public void Both_are_off_by_default_and_the_listener_fd_is_dockerds()
    {
        ProxyOptions options = Bind([]);

        options.DrainTimeout.Should().BeNull("without the flag a stop cuts connections at once, as the original");
        options.MetricsListen.Should().BeNull();
        options.ListenFd.Should().Be(4);
    }

    [Fact]
    public void Drain_timeout_is_a_Go_duration_from_the_flag_or_the_variable()
    {
        Bind(["-drain-timeout", "1m30s"]).DrainTimeout.Should().Be(TimeSpan.FromSeconds(90));
        Bind([], new() { ["DOCKER_PROXY_DRAIN_TIMEOUT"] = "250ms" }).DrainTimeout.Should().Be(TimeSpan.FromMilliseconds(250));
        Bind(["-drain-timeout", "2s"], new() { ["DOCKER_PROXY_DRAIN_TIMEOUT"] = "9h" }).DrainTimeout.Should().Be(TimeSpan.FromSeconds(2));

        Action zero = () => Bind(["-drain-timeout", "0s"]);
        zero.Should().Throw<StartupException>().WithMessage("invalid -drain-timeout \"0s\": must be a positive Go duration*");
    }

    [Theory]
    [InlineData("127.0.0.1:9464", "127.0.0.1", 9464)]
    [InlineData("0.0.0.0:0", "0.0.0.0", 0)]
    [InlineData("[::1]:9464", "::1", 9464)]
    [InlineData("[::]:80", "::", 80)]
    public void Metrics_listen_takes_ADDR_PORT(string text, string address, int port)
    {
        Bind(["-metrics-listen", text]).MetricsListen.Should().Be(new IPEndPoint(IPAddress.Parse(address), port));
        Bind([], new() { ["DOCKER_PROXY_METRICS_LISTEN"] = text }).MetricsListen.Should().Be(new IPEndPoint(IPAddress.Parse(address), port));
    }

    [Theory]
    [InlineData("9464")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:")]
    [InlineData("::1:9464")]
    [InlineData("localhost:9464")]
    [InlineData("127.0.0.1:70000")]
    public void Metrics_listen_refuses_anything_else_naming_the_value(string text)
    {
        Action bind = () => Bind(["-metrics-listen", text]);

        bind.Should().Throw<StartupException>().WithMessage($"invalid -metrics-listen \"{text}\": must be ADDR:PORT*");
    }

    private static ProxyOptions Bind(string[] extra, Dictionary<string, string>? environment = null)
    {
        FlagParseResult result = GoFlagParser.Parse([.. Base, .. extra]);
        result.Outcome.Should().Be(FlagParseOutcome.Run, result.Error);
        environment ??= [];
        return OptionsBinder.Bind(result.Values, name => environment.TryGetValue(name, out string? value) ? value : null);
    }
}
