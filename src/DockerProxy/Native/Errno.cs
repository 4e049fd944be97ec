using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace DockerProxy.Native;

/// <summary>
/// Error texts worded as Go's syscall package words them (zerrors_linux.go), because dockerd
/// shows the proxy's status text to users verbatim ("Error starting userland proxy: ...").
/// </summary>
internal static class Errno
{
    /// <summary>Go's text for a socket error (SocketError is what .NET reports on every platform).</summary>
    internal static string Text(SocketException error) => error.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "cannot assign requested address",
        SocketError.AccessDenied => "permission denied",
        SocketError.InvalidArgument => "invalid argument",
        SocketError.AddressFamilyNotSupported => "address family not supported by protocol",
        SocketError.ProtocolNotSupported => "protocol not supported",
        SocketError.ProtocolType => "protocol wrong type for socket",
        SocketError.SocketNotSupported => "socket type not supported",
        SocketError.TooManyOpenSockets => "too many open files",
        SocketError.NoBufferSpaceAvailable => "no buffer space available",
        SocketError.ConnectionRefused => "connection refused",
        SocketError.ConnectionReset => "connection reset by peer",
        SocketError.NetworkUnreachable => "network is unreachable",
        SocketError.HostUnreachable => "no route to host",
        SocketError.TimedOut => "connection timed out",
        _ => Lower(error.Message),
    };

    /// <summary>Go's text for a raw errno from a P/Invoke call.</summary>
    internal static string Text(int errno) => errno switch
    {
        9 => "bad file descriptor",
        24 => "too many open files",
        88 => "socket operation on non-socket",
        93 => "protocol not supported",
        97 => "address family not supported by protocol",
        _ => Lower(Marshal.GetPInvokeErrorMessage(errno)),
    };

    /// <summary>The SocketError for an errno of a raw socket call (connect(2) and the like), so that
    /// it reads as the socket engine's own errors do.</summary>
    internal static SocketError ToSocketError(int errno) => errno switch
    {
        1 or 13 => SocketError.AccessDenied, // EPERM (a firewall), EACCES
        12 or 28 => SocketError.NoBufferSpaceAvailable, // ENOMEM, ENOSPC (epoll: max_user_watches)
        22 => SocketError.InvalidArgument,
        24 or 23 => SocketError.TooManyOpenSockets, // EMFILE, ENFILE
        97 => SocketError.AddressFamilyNotSupported,
        98 => SocketError.AddressAlreadyInUse,
        99 => SocketError.AddressNotAvailable,
        101 => SocketError.NetworkUnreachable,
        104 => SocketError.ConnectionReset,
        105 => SocketError.NoBufferSpaceAvailable,
        110 => SocketError.TimedOut,
        111 => SocketError.ConnectionRefused,
        113 => SocketError.HostUnreachable,
        _ => SocketError.SocketError,
    };

    private static string Lower(string text) =>
        text.Length > 1 && char.IsUpper(text[0]) && !char.IsUpper(text[1])
            ? char.ToLowerInvariant(text[0]) + text[1..]
            : text;
}
