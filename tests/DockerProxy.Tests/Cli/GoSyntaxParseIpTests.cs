using System.Net;
using DockerProxy.Cli;

namespace DockerProxy.Tests.Cli;

/// <summary>Addresses as Go's net.ParseIP reads them: dotted-quad IPv4 only, IPv6 without a zone.</summary>
public sealed class GoSyntaxParseIpTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("1.2.3.4")]
    [InlineData("10.0.0.1")]
    [InlineData("172.17.0.2")]
    [InlineData("192.168.100.200")]
    [InlineData("100.64.0.10")]
    public void Dotted_quads_are_ipv4(string text)
    {
        IPAddress? address = GoSyntax.ParseIp(text);

        address.Should().NotBeNull();
        address!.Should().Be(IPAddress.Parse(text));
    }

    [Theory]
    [InlineData("::1", "::1")]
    [InlineData("::", "::")]
    [InlineData("fe80::1", "fe80::1")]
    [InlineData("FE80::1", "fe80::1")]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a")]
    [InlineData("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8")]
    [InlineData("0:0:0:0:0:0:0:0", "::")]
    [InlineData("1::", "1::")]
    [InlineData("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0")]
    [InlineData("::1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7")]
    [InlineData("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304")]
    [InlineData("1::1.2.3.4", "1::102:304")]
    [InlineData("fd00::2", "fd00::2")]
    public void Ipv6_addresses_are_read(string text, string expected)
    {
        IPAddress? address = GoSyntax.ParseIp(text);

        address.Should().NotBeNull();
        address!.GetAddressBytes().Should().Equal(IPAddress.Parse(expected).GetAddressBytes());
    }

    [Theory]
    [InlineData("::ffff:127.0.0.1", "127.0.0.1")]
    [InlineData("::ffff:10.0.0.2", "10.0.0.2")]
    [InlineData("::FFFF:1.2.3.4", "1.2.3.4")]
    [InlineData("::ffff:0.0.0.0", "0.0.0.0")]
    [InlineData("0:0:0:0:0:ffff:7f00:1", "127.0.0.1")]
    public void Ipv4_mapped_addresses_are_read_as_the_ipv4_address_they_carry(string text, string ipv4)
    {
        IPAddress? address = GoSyntax.ParseIp(text);

        address.Should().NotBeNull();
        IPAddress normalized = address!.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        normalized.Should().Be(IPAddress.Parse(ipv4));
    }

    [Theory]
    [InlineData("")]
    [InlineData("127.1")]
    [InlineData("1.2.3")]
    [InlineData("1.2")]
    [InlineData("1")]
    [InlineData("2130706433")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.04")]
    [InlineData("1.02.3.4")]
    [InlineData("00.0.0.0")]
    [InlineData("1.2.3.256")]
    [InlineData("256.0.0.0")]
    [InlineData("1234.1.1.1")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1.2.3.4.")]
    [InlineData(".1.2.3.4")]
    [InlineData("1..2.3")]
    [InlineData("1.2.3.-1")]
    [InlineData("-1.2.3.4")]
    [InlineData("+1.2.3.4")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("a.b.c.d")]
    [InlineData(" 1.2.3.4")]
    [InlineData("1.2.3.4 ")]
    [InlineData("1.2.3.4/24")]
    [InlineData("1.2.3.4:80")]
    [InlineData("\u0661.\u0662.\u0663.\u0664")] // Arabic-Indic digits
    [InlineData("localhost")]
    [InlineData("-5")]
    public void Malformed_ipv4_is_rejected(string text)
    {
        GoSyntax.ParseIp(text).Should().BeNull();
    }

    [Theory]
    [InlineData("fe80::1%eth0")]
    [InlineData("fe80::1%1")]
    [InlineData("::1%lo")]
    [InlineData("fe80::1%")]
    [InlineData("::1/128")]
    [InlineData(":::")]
    [InlineData("1::2::3")]
    [InlineData("12345::")]
    [InlineData("::12345")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("::1:2:3:4:5:6:7:8")]
    [InlineData("1:2:3:4::5:6:7:8")]
    [InlineData("::g")]
    [InlineData(":1")]
    [InlineData("1:")]
    [InlineData("::1:")]
    [InlineData("::ffff:1.2.3")]
    [InlineData("::ffff:01.2.3.4")]
    [InlineData("::ffff:1.2.3.256")]
    [InlineData("::ffff:1.2.3.4.5")]
    [InlineData(" ::1")]
    [InlineData("::1 ")]
    [InlineData("::0x1")]
    public void Malformed_ipv6_is_rejected(string text)
    {
        GoSyntax.ParseIp(text).Should().BeNull();
    }

    // Go's net.ParseIP takes no brackets and no port (those belong to net.SplitHostPort), and its
    // embedded IPv4 follows the dotted-quad rules, leading zeros refused, in every octet.
    [Theory]
    [InlineData("[::1]")]
    [InlineData("[fe80::1]")]
    [InlineData("[::1]:80")]
    [InlineData("[::1]:")]
    [InlineData("::ffff:1.2.3.04")]
    [InlineData("::1.2.3.01")]
    public void Bracketed_ipv6_and_leading_zeros_in_an_embedded_ipv4_are_rejected(string text)
    {
        GoSyntax.ParseIp(text).Should().BeNull();
    }

    [Theory]
    [InlineData("127.1")]
    [InlineData("1.2.3")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.256")]
    [InlineData("1.2.3.4.5")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    [InlineData("localhost")]
    [InlineData("-5")]
    public void Invalid_addresses_are_flag_errors_for_both_ip_flags(string text)
    {
        foreach (string name in new[] { Flags.HostIp, Flags.ContainerIp })
        {
            FlagParseResult result = GoFlagParser.Parse(["-" + name, text]);

            result.Outcome.Should().Be(FlagParseOutcome.Error);
            result.Error.Should().Be($"invalid value \"{text}\" for flag -{name}: invalid IP address: {text}");
        }
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("")]
    public void Valid_or_empty_addresses_are_accepted_by_both_ip_flags(string text)
    {
        FlagParseResult result = GoFlagParser.Parse(["-host-ip=" + text, "--container-ip", text]);

        result.Outcome.Should().Be(FlagParseOutcome.Run);
        result.Values.Get(Flags.HostIp).Should().Be(text);
        result.Values.Get(Flags.ContainerIp).Should().Be(text);
    }
}
