using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace DockerProxy.Relay.Tcp;

/// <summary>
/// The PROXY protocol header (HAProxy's specification, "The PROXY protocol, versions 1 and 2",
/// doc/proxy-protocol.txt), written to the backend before any relayed byte so that the container
/// learns the client's address: source = the client, destination = the address the client
/// connected to (the proxy's listener). Only the PROXY command over TCP (STREAM) is produced.
/// </summary>
internal static class ProxyHeader
{
    // Section 2.2: the 12 bytes every v2 header starts with.
    private static ReadOnlySpan<byte> Signature => [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

    private const byte VersionTwoProxyCommand = 0x21; // version 2 (high nibble), PROXY (low nibble)
    private const byte Tcp4 = 0x11; // AF_INET, STREAM
    private const byte Tcp6 = 0x21; // AF_INET6, STREAM
    private const byte Unspecified = 0x00;

    /// <summary>The header for a client at <paramref name="source"/> that connected to
    /// <paramref name="destination"/>. When either is unknown or they differ in family, the
    /// specification's "unknown" form: <c>PROXY UNKNOWN\r\n</c> (v1) or AF_UNSPEC (v2).</summary>
    internal static byte[] Build(ProxyProtocolVersion version, EndPoint? source, EndPoint? destination)
    {
        IPEndPoint? from = Normalize(source);
        IPEndPoint? to = Normalize(destination);
        if (from is not null && to is not null && from.AddressFamily != to.AddressFamily)
        {
            from = to = null;
        }

        return version switch
        {
            ProxyProtocolVersion.V1 => BuildV1(from, to),
            ProxyProtocolVersion.V2 => BuildV2(from, to),
            _ => throw new ArgumentOutOfRangeException(nameof(version)),
        };
    }

    /// <summary>Sends the header for <paramref name="client"/> on <paramref name="backend"/>, all of it.</summary>
    internal static async ValueTask SendAsync(Socket backend, Socket client, ProxyProtocolVersion version)
    {
        byte[] header = Build(version, client.RemoteEndPoint, client.LocalEndPoint);
        int sent = 0;
        while (sent < header.Length)
        {
            sent += await backend.SendAsync(header.AsMemory(sent), SocketFlags.None);
        }
    }

    // Section 2.1: "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n" at most 107 bytes.
    private static byte[] BuildV1(IPEndPoint? from, IPEndPoint? to)
    {
        if (from is null || to is null)
        {
            return "PROXY UNKNOWN\r\n"u8.ToArray();
        }

        string family = from.AddressFamily == AddressFamily.InterNetwork ? "TCP4" : "TCP6";
        return Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"PROXY {family} {from.Address} {to.Address} {from.Port} {to.Port}\r\n"));
    }

    // Section 2.2: signature, version/command, family/transport, length (network order), then
    // source address, destination address, source port, destination port.
    private static byte[] BuildV2(IPEndPoint? from, IPEndPoint? to)
    {
        int addressBytes = from is null ? 0 : from.AddressFamily == AddressFamily.InterNetwork ? 4 : 16;
        int length = from is null ? 0 : (2 * addressBytes) + 4;
        byte[] header = new byte[16 + length];
        Signature.CopyTo(header);
        header[12] = VersionTwoProxyCommand;
        header[13] = from is null ? Unspecified : addressBytes == 4 ? Tcp4 : Tcp6;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(14), (ushort)length);
        if (from is not null && to is not null)
        {
            Span<byte> body = header.AsSpan(16);
            _ = from.Address.TryWriteBytes(body, out _);
            _ = to.Address.TryWriteBytes(body[addressBytes..], out _);
            BinaryPrimitives.WriteUInt16BigEndian(body[(2 * addressBytes)..], (ushort)from.Port);
            BinaryPrimitives.WriteUInt16BigEndian(body[((2 * addressBytes) + 2)..], (ushort)to.Port);
        }

        return header;
    }

    // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d: it is an IPv4 client. A
    // scope id (fe80::1%eth0) is no part of either header's address.
    private static IPEndPoint? Normalize(EndPoint? endPoint)
    {
        if (endPoint is not IPEndPoint ip)
        {
            return null;
        }

        if (ip.Address.IsIPv4MappedToIPv6)
        {
            return new IPEndPoint(ip.Address.MapToIPv4(), ip.Port);
        }

        return ip.AddressFamily == AddressFamily.InterNetworkV6 && ip.Address.ScopeId != 0
            ? new IPEndPoint(new IPAddress(ip.Address.GetAddressBytes()), ip.Port)
            : ip;
    }
}
