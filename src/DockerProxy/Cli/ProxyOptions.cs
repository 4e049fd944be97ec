using System.Net;
using DockerProxy.Relay.Tcp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Cli;

/// <summary>Everything one proxy process needs to know, validated.</summary>
/// <param name="Proto">tcp, udp or sctp.</param>
/// <param name="Host">Where to listen; port 0 lets the kernel choose.</param>
/// <param name="Container">Where to relay to.</param>
/// <param name="UseListenFd">Take the listener from fd 4 instead of binding (newer engines).</param>
/// <param name="LogLevel">Least level written.</param>
/// <param name="LogFormat">Text or JSON lines.</param>
/// <param name="UdpTimeout">UDP: a session idle this long either way is closed.</param>
/// <param name="UdpMaxSessions">UDP: the session table's bound.</param>
/// <param name="CopyMode">TCP: splice or Pipelines.</param>
internal sealed record ProxyOptions(
    string Proto,
    IPEndPoint Host,
    IPEndPoint Container,
    bool UseListenFd,
    LogLevel LogLevel,
    LogFormat LogFormat,
    TimeSpan UdpTimeout,
    int UdpMaxSessions,
    CopyMode CopyMode = CopyMode.Splice);
