using System.Net;
using DockerProxy.Hosting;
using DockerProxy.Relay.Tcp;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Cli;

/// <summary>
/// Turns the flags read from argv (and, for our own options, the environment) into
/// <see cref="ProxyOptions"/>. Where the original accepts nonsense (no container address, port -1)
/// and fails only at the first connection, this refuses it at start with every problem named.
/// </summary>
internal static class OptionsBinder
{
    internal static ProxyOptions Bind(FlagValues values, Func<string, string?> environment)
    {
        string proto = values.Get(Flags.Proto) ?? "tcp";
        if (proto is not ("tcp" or "udp" or "sctp"))
        {
            // The newest original's wording (moby cmd/docker-proxy/main_linux.go, newProxy).
            throw new StartupException($"unsupported protocol {proto}");
        }

        var problems = new List<string>(); // the original's flags first, then ours (SettingReader)
        MappingSource? mappings = MultiMapping.Read(values, problems);
        bool classic = mappings is null;

        IPAddress hostIp = ReadIp(values, Flags.HostIp) ?? IPAddress.Any;
        if (hostIp.IsIPv4MappedToIPv6)
        {
            hostIp = hostIp.MapToIPv4(); // Go: an IPv4-mapped address listens as tcp4
        }

        long hostPort = ReadInt(values, Flags.HostPort, -1);
        if (classic && hostPort is < 0 or > 65535)
        {
            problems.Add(values.IsSet(Flags.HostPort)
                ? $"invalid host port {hostPort}: must be 0-65535 (0 picks a free port)"
                : "missing -host-port");
        }

        IPAddress? containerIp = ReadIp(values, Flags.ContainerIp);
        if (containerIp is null)
        {
            if (classic)
            {
                problems.Add("missing -container-ip");
            }
        }
        else
        {
            if (containerIp.IsIPv4MappedToIPv6)
            {
                containerIp = containerIp.MapToIPv4();
            }

            if (containerIp.Equals(IPAddress.Any) || containerIp.Equals(IPAddress.IPv6Any))
            {
                problems.Add($"invalid container ip {containerIp}: must be a unicast address");
            }
        }

        long containerPort = ReadInt(values, Flags.ContainerPort, -1);
        if (classic && containerPort is < 1 or > 65535)
        {
            problems.Add(values.IsSet(Flags.ContainerPort)
                ? $"invalid container port {containerPort}: must be 1-65535"
                : "missing -container-port");
        }

        var settings = new SettingReader(values, environment, problems);
        LogLevel logLevel = settings.Choice(Flags.LogLevel, LogLevel.Information,
            ("debug", LogLevel.Debug), ("info", LogLevel.Information), ("warn", LogLevel.Warning), ("error", LogLevel.Error));
        LogFormat logFormat = settings.Choice(Flags.LogFormat, LogFormat.Text, ("text", LogFormat.Text), ("json", LogFormat.Json));
        CopyMode copyMode = settings.Choice(Flags.CopyMode, TcpRelayOptions.Default.CopyMode, ("splice", CopyMode.Splice), ("pipelines", CopyMode.Pipelines));
        TimeSpan udpTimeout = settings.Duration(Flags.UdpTimeout, UdpRelayOptions.DefaultIdleTimeout)!.Value;
        long udpMaxSessions = settings.Integer(Flags.UdpMaxSessions, UdpRelayOptions.DefaultMaxSessions, 1, 16_777_216)!.Value;
        TimeSpan udpBusyPoll = settings.ZeroOrDuration(Flags.UdpBusyPoll, UdpRelayOptions.DefaultBusyPoll, UdpRelayOptions.MaxBusyPoll);
        TimeSpan tcpBusyPoll = settings.ZeroOrDuration(Flags.TcpBusyPoll, TcpRelayOptions.DefaultBusyPoll, TcpRelayOptions.MaxBusyPoll);
        TimeSpan? connectTimeout = settings.Duration(Flags.ConnectTimeout, null);
        TimeSpan? idleTimeout = settings.Duration(Flags.IdleTimeout, null);
        long? maxConnections = settings.Integer(Flags.MaxConnections, null, 1, int.MaxValue);
        string? user = settings.Text(Flags.User);
        TimeSpan? drainTimeout = settings.Duration(Flags.DrainTimeout, null);
        IPEndPoint? metricsListen = settings.EndPoint(Flags.MetricsListen);
        ProxyProtocolVersion proxyProtocol = settings.Choice(Flags.ProxyProtocol, ProxyProtocolVersion.None, ("v1", ProxyProtocolVersion.V1), ("v2", ProxyProtocolVersion.V2));
        settings.ThrowIfAny();

        return new ProxyOptions(
            proto,
            new IPEndPoint(hostIp, classic ? (int)hostPort : 0),
            new IPEndPoint(containerIp ?? IPAddress.Any, classic ? (int)containerPort : 0),
            values.Get(Flags.UseListenFd) is string useFd && GoSyntax.ParseBool(useFd) == true)
        {
            LogLevel = logLevel,
            LogFormat = logFormat,
            CopyMode = copyMode,
            UdpTimeout = udpTimeout,
            UdpMaxSessions = (int)udpMaxSessions,
            UdpBusyPoll = udpBusyPoll,
            TcpBusyPoll = tcpBusyPoll,
            ConnectTimeout = connectTimeout,
            IdleTimeout = idleTimeout,
            MaxConnections = (int?)maxConnections,
            User = user,
            DrainTimeout = drainTimeout,
            MetricsListen = metricsListen,
            ProxyProtocol = proxyProtocol,
            Mappings = mappings,
        };
    }

    // GoFlagParser already checked the syntax; here only the value is taken.
    private static IPAddress? ReadIp(FlagValues values, string flag) =>
        values.Get(flag) is string text ? GoSyntax.ParseIp(text) : null;

    private static long ReadInt(FlagValues values, string flag, long fallback) =>
        values.Get(flag) is string text && GoSyntax.ParseInt(text, out long value) == GoIntResult.Ok ? value : fallback;
}
