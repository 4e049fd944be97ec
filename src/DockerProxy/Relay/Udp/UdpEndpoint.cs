using System.Buffers.Binary;
using System.Net;

namespace DockerProxy.Relay.Udp;

/// <summary>
/// An IPv4 or IPv6 address with port and scope, as a plain value: the key of a UDP session (the
/// client's address) and the local address a client sent to (from IP_PKTINFO, Scope then being
/// the interface index). Built from and written to raw sockaddr bytes without allocating.
/// </summary>
internal readonly record struct UdpEndpoint(ulong High, ulong Low, ushort Port, ushort Family, uint Scope)
{
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    internal const int MaxSockaddrLength = 28;

    internal bool IsIPv6 => Family == AfInet6;

    internal bool IsEmpty => Family == 0;

    /// <summary>Reads a sockaddr_in or sockaddr_in6.</summary>
    internal static UdpEndpoint FromSockaddr(ReadOnlySpan<byte> sockaddr)
    {
        ushort family = BitConverter.ToUInt16(sockaddr);
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
        return family switch
        {
            AfInet => FromIPv4(sockaddr.Slice(4, 4), port, 0),
            AfInet6 => FromIPv6(sockaddr.Slice(8, 16), port, BitConverter.ToUInt32(sockaddr[24..])),
            _ => default,
        };
    }

    internal static UdpEndpoint FromIPv4(ReadOnlySpan<byte> address, ushort port, uint scope) =>
        new(0, BinaryPrimitives.ReadUInt32BigEndian(address), port, AfInet, scope);

    internal static UdpEndpoint FromIPv6(ReadOnlySpan<byte> address, ushort port, uint scope) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(address), BinaryPrimitives.ReadUInt64BigEndian(address[8..]), port, AfInet6, scope);

    /// <summary>Writes the sockaddr for this endpoint; returns its length.</summary>
    internal int WriteSockaddr(Span<byte> destination)
    {
        destination[..MaxSockaddrLength].Clear();
        BitConverter.TryWriteBytes(destination, Family);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Port);
        if (Family == AfInet)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination[4..], (uint)Low);
            return 16;
        }

        WriteAddress(destination.Slice(8, 16));
        BitConverter.TryWriteBytes(destination[24..], Scope);
        return 28;
    }

    /// <summary>Writes the 4 or 16 address bytes.</summary>
    internal void WriteAddress(Span<byte> destination)
    {
        if (Family == AfInet)
        {
            BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)Low);
        }
        else
        {
            BinaryPrimitives.WriteUInt64BigEndian(destination, High);
            BinaryPrimitives.WriteUInt64BigEndian(destination[8..], Low);
        }
    }

    /// <summary>Multicast and broadcast destinations cannot be a reply's source address.</summary>
    internal bool IsMulticastOrBroadcast => Family == AfInet
        ? (Low & 0xF000_0000) == 0xE000_0000 || Low == 0xFFFF_FFFF
        : (High >> 56) == 0xFF;

    /// <summary>IPv6 link-local (fe80::/10): a reply needs the interface index as well.</summary>
    internal bool IsLinkLocal => Family == AfInet6 && (High >> 54) == 0x3FA;

    internal IPEndPoint ToIPEndPoint()
    {
        Span<byte> bytes = stackalloc byte[16];
        if (Family == AfInet)
        {
            WriteAddress(bytes);
            return new IPEndPoint(new IPAddress(bytes[..4]), Port);
        }

        WriteAddress(bytes);
        return new IPEndPoint(new IPAddress(bytes, Scope), Port);
    }

    public override string ToString() => IsEmpty ? "(none)" : ToIPEndPoint().ToString();
}
