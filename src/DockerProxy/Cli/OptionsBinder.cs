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

        var problems = new List<string>();

        IPAddress hostIp = ReadIp(values, Flags.HostIp) ?? IPAddress.Any;
        if (hostIp.IsIPv4MappedToIPv6)
        {
            hostIp = hostIp.MapToIPv4(); // Go: an IPv4-mapped address listens as tcp4
        }

        long hostPort = ReadInt(values, Flags.HostPort, -1);
        if (hostPort is < 0 or > 65535)
        {
            problems.Add(values.IsSet(Flags.HostPort)
                ? $"invalid host port {hostPort}: must be 0-65535 (0 picks a free port)"
                : "missing -host-port");
        }

        IPAddress? containerIp = ReadIp(values, Flags.ContainerIp);
        if (containerIp is null)
        {
            problems.Add("missing -container-ip");
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
        if (containerPort is < 1 or > 65535)
        {
            problems.Add(values.IsSet(Flags.ContainerPort)
                ? $"invalid container port {containerPort}: must be 1-65535"
                : "missing -container-port");
        }

        LogLevel logLevel = LogLevel.Information;
        string? level = Read(values, Flags.LogLevel, environment, out string levelSource);
        if (level is not null)
        {
            LogLevel? parsed = level switch
            {
                "debug" => LogLevel.Debug,
                "info" => LogLevel.Information,
                "warn" => LogLevel.Warning,
                "error" => LogLevel.Error,
                _ => null,
            };
            if (parsed is null)
            {
                problems.Add($"invalid {levelSource} \"{level}\": must be debug, info, warn or error");
            }
            else
            {
                logLevel = parsed.Value;
            }
        }

        LogFormat logFormat = LogFormat.Text;
        string? format = Read(values, Flags.LogFormat, environment, out string formatSource);
        if (format is not null)
        {
            switch (format)
            {
                case "text": logFormat = LogFormat.Text; break;
                case "json": logFormat = LogFormat.Json; break;
                default: problems.Add($"invalid {formatSource} \"{format}\": must be text or json"); break;
            }
        }

        TimeSpan udpTimeout = UdpRelayOptions.DefaultIdleTimeout;
        string? timeout = Read(values, Flags.UdpTimeout, environment, out string timeoutSource);
        if (timeout is not null)
        {
            if (!GoDuration.TryParse(timeout, out udpTimeout) || udpTimeout <= TimeSpan.Zero)
            {
                problems.Add($"invalid {timeoutSource} \"{timeout}\": must be a positive Go duration such as 90s or 5m");
            }
        }

        int udpMaxSessions = UdpRelayOptions.DefaultMaxSessions;
        string? maxSessions = Read(values, Flags.UdpMaxSessions, environment, out string maxSessionsSource);
        if (maxSessions is not null)
        {
            if (GoSyntax.ParseInt(maxSessions, out long parsedMax) != GoIntResult.Ok || parsedMax is < 1 or > 16_777_216)
            {
                problems.Add($"invalid {maxSessionsSource} \"{maxSessions}\": must be 1-16777216");
            }
            else
            {
                udpMaxSessions = (int)parsedMax;
            }
        }

        CopyMode copyMode = TcpRelayOptions.Default.CopyMode;
        string? mode = Read(values, Flags.CopyMode, environment, out string modeSource);
        if (mode is not null)
        {
            switch (mode)
            {
                case "splice": copyMode = CopyMode.Splice; break;
                case "pipelines": copyMode = CopyMode.Pipelines; break;
                default: problems.Add($"invalid {modeSource} \"{mode}\": must be splice or pipelines"); break;
            }
        }

        if (problems.Count > 0)
        {
            throw new StartupException(string.Join("; ", problems));
        }

        return new ProxyOptions(
            proto,
            new IPEndPoint(hostIp, (int)hostPort),
            new IPEndPoint(containerIp!, (int)containerPort),
            values.Get(Flags.UseListenFd) is string useFd && GoSyntax.ParseBool(useFd) == true,
            logLevel,
            logFormat,
            udpTimeout,
            udpMaxSessions,
            copyMode);
    }

    // A flag wins over its environment variable; source names whichever was used, for messages.
    private static string? Read(FlagValues values, string flag, Func<string, string?> environment, out string source)
    {
        source = "-" + flag;
        if (values.Get(flag) is string value)
        {
            return value;
        }

        string? variable = Flags.Find(flag)?.EnvironmentVariable;
        if (variable is not null && environment(variable) is string fromEnvironment && fromEnvironment.Length > 0)
        {
            source = variable;
            return fromEnvironment;
        }

        return null;
    }

    // GoFlagParser already checked the syntax; here only the value is taken.
    private static IPAddress? ReadIp(FlagValues values, string flag) =>
        values.Get(flag) is string text ? GoSyntax.ParseIp(text) : null;

    private static long ReadInt(FlagValues values, string flag, long fallback) =>
        values.Get(flag) is string text && GoSyntax.ParseInt(text, out long value) == GoIntResult.Ok ? value : fallback;
}
