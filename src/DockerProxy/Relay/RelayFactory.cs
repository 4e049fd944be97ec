using System.Net.Sockets;
using DockerProxy.Cli;
using DockerProxy.Hosting;
using DockerProxy.Relay.Multi;
using DockerProxy.Relay.Sctp;
using DockerProxy.Relay.Tcp;
using DockerProxy.Relay.Udp;
using Microsoft.Extensions.Logging;

namespace DockerProxy.Relay;

/// <summary>Makes the relay for one mapping: its listener bound (or adopted from fd 4) and ready;
/// with -map or -config, the set of relays for all of them.</summary>
internal static class RelayFactory
{
    internal static IRelay Create(ProxyOptions options, ILoggerFactory loggers, TimeProvider time)
    {
        UdpEventLoop.BusyPoll = options.UdpBusyPoll;
        TcpEventLoop.BusyPoll = options.TcpBusyPoll;
        if (options.Mappings is not null)
        {
            return MappingSet.Start(options.Mappings, options.Tcp, new UdpRelayOptions(options.UdpTimeout, options.UdpMaxSessions), loggers, time);
        }

        switch (options.Proto)
        {
            case "tcp":
                Socket listener = options.UseListenFd ? InheritedListener.Adopt("tcp", options.ListenFd) : ListenerBinder.BindTcp(options.Host);
                return new TcpRelay(listener, options.Container, loggers.CreateLogger<TcpRelay>(), time, options.Tcp);
            case "udp":
                UdpListener udp = options.UseListenFd ? UdpListener.Adopt(InheritedListener.Adopt("udp", options.ListenFd)) : UdpListener.Bind(options.Host);
                return new UdpRelay(udp, options.Container, new UdpRelayOptions(options.UdpTimeout, options.UdpMaxSessions), loggers.CreateLogger<UdpRelay>(), time);
            default:
                // dockerd binds SCTP itself in no release so far; a listener passed anyway is served.
                Socket sctp = options.UseListenFd ? SctpSockets.Adopt(InheritedListener.Adopt("sctp", options.ListenFd)) : SctpSockets.Listen(options.Host);
                return new SctpRelay(sctp, options.Container, loggers.CreateLogger<SctpRelay>(), time);
        }
    }
}
