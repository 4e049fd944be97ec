using System.Net;
using DockerProxy.Cli;
using DockerProxy.Hosting;
using DockerProxy.Relay.Multi;

namespace DockerProxy.Tests.Cli;

public sealed class MappingSyntaxTests
{
    [Fact]
    public void A_single_port_mapping_reads_as_one_mapping()
    {
        List<Mapping>? mappings = MappingSyntax.Parse("tcp:127.0.0.1:8080:172.17.0.2:80", out string? problem);

        problem.Should().BeNull();
        mappings.Should().Equal(new Mapping("tcp", new IPEndPoint(IPAddress.Parse("127.0.0.1"), 8080), new IPEndPoint(IPAddress.Parse("172.17.0.2"), 80)));
    }

    [Fact]
    public void A_range_maps_port_to_port()
    {
        List<Mapping>? mappings = MappingSyntax.Parse("udp:0.0.0.0:5000-5002:10.0.0.9:6000-6002", out _);

        mappings!.Select(m => (m.Proto, m.Host.Port, m.Container.Port)).Should().Equal(("udp", 5000, 6000), ("udp", 5001, 6001), ("udp", 5002, 6002));
        mappings.Should().OnlyContain(m => m.Host.Address.Equals(IPAddress.Any) && m.Container.Address.Equals(IPAddress.Parse("10.0.0.9")));
    }

    [Fact]
    public void IPv6_addresses_go_in_brackets()
    {
        List<Mapping>? mappings = MappingSyntax.Parse("tcp:[::1]:8443:[fd00::2]:443", out string? problem);

        problem.Should().BeNull();
        mappings.Should().Equal(new Mapping("tcp", new IPEndPoint(IPAddress.IPv6Loopback, 8443), new IPEndPoint(IPAddress.Parse("fd00::2"), 443)));
    }

    [Fact]
    public void An_IPv4_mapped_address_listens_as_IPv4()
    {
        List<Mapping>? mappings = MappingSyntax.Parse("tcp:[::ffff:127.0.0.1]:8080:127.0.0.2:80", out _);

        mappings!.Single().Host.Should().Be(new IPEndPoint(IPAddress.Loopback, 8080));
    }

    [Theory]
    [InlineData("", "expected PROTO")]
    [InlineData("tcp", "expected PROTO")]
    [InlineData("http:127.0.0.1:80:127.0.0.2:80", "unsupported protocol \"http\"")]
    [InlineData("tcp:127.0.0.1:80", "missing the container address")]
    [InlineData("tcp:127.0.0.1:80:127.0.0.2", "missing the container address or port")]
    [InlineData("tcp:127.0.0.1:80:127.0.0.2:80:90", "expected PROTO")]
    [InlineData("tcp:localhost:80:127.0.0.2:80", "invalid host ip \"localhost\"")]
    [InlineData("tcp:::1:80:127.0.0.2:80", "invalid host ip")]
    [InlineData("tcp:[127.0.0.1]:80:127.0.0.2:80", "invalid host ip \"127.0.0.1\"")]
    [InlineData("tcp:[::1:80:127.0.0.2:80", "no closing")]
    [InlineData("tcp:127.0.0.1:0:127.0.0.2:80", "invalid host port \"0\"")]
    [InlineData("tcp:127.0.0.1:65536:127.0.0.2:80", "invalid host port \"65536\"")]
    [InlineData("tcp:127.0.0.1:+80:127.0.0.2:80", "invalid host port \"+80\"")]
    [InlineData("tcp:127.0.0.1:80:127.0.0.2:x", "invalid container port \"x\"")]
    [InlineData("tcp:127.0.0.1:90-80:127.0.0.2:90-80", "the end is below the start")]
    [InlineData("tcp:127.0.0.1:80-89:127.0.0.2:80", "10 ports and the container range 1")]
    [InlineData("tcp:127.0.0.1:80-89:127.0.0.2:80-90", "they must be the same length")]
    [InlineData("tcp:127.0.0.1:80:0.0.0.0:80", "must be a unicast address")]
    [InlineData("tcp:127.0.0.1:80:[::]:80", "must be a unicast address")]
    public void Bad_mappings_are_refused_with_the_reason(string text, string reason)
    {
        List<Mapping>? mappings = MappingSyntax.Parse(text, out string? problem);

        mappings.Should().BeNull();
        problem.Should().Contain(reason);
    }

    [Fact]
    public void A_config_file_has_one_mapping_a_line_with_comments_and_blank_lines()
    {
        using var file = new TempFile(
            "# web\n" +
            "tcp:127.0.0.1:8080:172.17.0.2:80   # the site\n" +
            "\n" +
            "   udp:[::1]:5353-5354:[fd00::3]:53-54\n");
        var source = new MappingSource(["tcp:127.0.0.1:9000:172.17.0.2:9000"], file.Path);

        List<MappingEntry> entries = source.Load();

        entries.Select(e => e.Mapping.ToString()).Should().Equal(
            "tcp 127.0.0.1:9000 -> 172.17.0.2:9000",
            "tcp 127.0.0.1:8080 -> 172.17.0.2:80",
            "udp [::1]:5353 -> [fd00::3]:53",
            "udp [::1]:5354 -> [fd00::3]:54");
        entries.Select(e => e.Origin).Should().Equal(
            "-map \"tcp:127.0.0.1:9000:172.17.0.2:9000\"", $"{file.Path} line 2", $"{file.Path} line 4", $"{file.Path} line 4");
    }

    [Fact]
    public void Every_bad_line_is_named_at_once()
    {
        using var file = new TempFile("tcp:127.0.0.1:8080:172.17.0.2:80\ntcp:127.0.0.1:80\n# fine\nudp:127.0.0.1:x:172.17.0.2:53\n");

        Action load = () => new MappingSource([], file.Path).Load();

        load.Should().Throw<StartupException>()
            .Which.Message.Should().Contain($"{file.Path} line 2: invalid mapping \"tcp:127.0.0.1:80\"")
            .And.Contain($"{file.Path} line 4: invalid mapping \"udp:127.0.0.1:x:172.17.0.2:53\": invalid host port \"x\"");
    }

    [Fact]
    public void A_host_address_mapped_twice_names_both_places()
    {
        using var file = new TempFile("tcp:127.0.0.1:8000-8010:172.17.0.2:8000-8010\ntcp:127.0.0.1:8005:172.17.0.3:80\nudp:127.0.0.1:8005:172.17.0.3:80\n");

        Action load = () => new MappingSource([], file.Path).Load();

        load.Should().Throw<StartupException>()
            .Which.Message.Should().Be($"{file.Path} line 2: tcp 127.0.0.1:8005 is already mapped by {file.Path} line 1");
    }

    [Fact]
    public void An_empty_or_missing_file_is_a_start_up_failure()
    {
        using var empty = new TempFile("# nothing yet\n\n");

        FluentActions.Invoking(() => new MappingSource([], empty.Path).Load())
            .Should().Throw<StartupException>().WithMessage($"-config {empty.Path}: no mapping in the file");
        FluentActions.Invoking(() => new MappingSource([], empty.Path + ".missing").Load())
            .Should().Throw<StartupException>().Which.Message.Should().StartWith($"-config {empty.Path}.missing: ");
    }

    [Fact]
    public void A_config_that_never_ends_is_refused_not_read_into_memory()
    {
        FluentActions.Invoking(() => new MappingSource([], "/dev/zero").Load())
            .Should().Throw<StartupException>().WithMessage("-config /dev/zero: larger than 4 MiB");
        FluentActions.Invoking(() => new MappingSource([], "/").Load())
            .Should().Throw<StartupException>().Which.Message.Should().StartWith("-config /: ");
    }

    [Fact]
    public void Windows_line_ends_are_read_as_line_ends()
    {
        using var file = new TempFile("# crlf\r\ntcp:127.0.0.1:8080:172.17.0.2:80\r\n");

        new MappingSource([], file.Path).Load().Single().Origin.Should().Be($"{file.Path} line 2");
    }

    [Fact]
    public void The_map_flag_keeps_every_occurrence_in_order()
    {
        FlagParseResult parsed = GoFlagParser.Parse(["-map", "tcp:127.0.0.1:1:127.0.0.2:1", "--map=udp:127.0.0.1:2:127.0.0.2:2", "-log-level", "debug", "-map", "tcp:127.0.0.1:3:127.0.0.2:3"]);

        parsed.Outcome.Should().Be(FlagParseOutcome.Run);
        parsed.Values.GetAll(Flags.Map).Should().Equal("tcp:127.0.0.1:1:127.0.0.2:1", "udp:127.0.0.1:2:127.0.0.2:2", "tcp:127.0.0.1:3:127.0.0.2:3");
        parsed.Values.Get(Flags.Map).Should().Be("tcp:127.0.0.1:3:127.0.0.2:3", "Get sees the last, as for every Go flag");
    }

    [Fact]
    public void The_map_flag_needs_an_argument_as_any_Go_string_flag()
    {
        FlagParseResult parsed = GoFlagParser.Parse(["-map"]);

        parsed.Outcome.Should().Be(FlagParseOutcome.Error);
        parsed.Error.Should().Be("flag needs an argument: -map");
    }

    [Theory]
    [InlineData("-host-port", "8080")]
    [InlineData("-container-ip", "172.17.0.2")]
    [InlineData("-container-port", "80")]
    [InlineData("-host-ip", "127.0.0.1")]
    [InlineData("-proto", "udp")]
    [InlineData("-use-listen-fd", null)]
    public void The_classic_mapping_flags_cannot_be_combined_with_map(string flag, string? value)
    {
        string[] args = value is null ? ["-map", "tcp:127.0.0.1:1:127.0.0.2:1", flag] : ["-map", "tcp:127.0.0.1:1:127.0.0.2:1", flag, value];
        FlagParseResult parsed = GoFlagParser.Parse(args);

        Action bind = () => OptionsBinder.Bind(parsed.Values, _ => null);

        bind.Should().Throw<StartupException>().WithMessage($"{flag} cannot be combined with -map or -config*");
    }

    [Fact]
    public void With_map_the_classic_flags_are_not_required()
    {
        FlagParseResult parsed = GoFlagParser.Parse(["-map", "tcp:127.0.0.1:1:127.0.0.2:1", "-config", "/nonexistent/mappings"]);

        ProxyOptions options = OptionsBinder.Bind(parsed.Values, _ => null);

        options.Mappings.Should().NotBeNull();
        options.Mappings!.ConfigFile.Should().Be("/nonexistent/mappings");
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v2")]
    public void Proxy_protocol_is_read_from_the_flag_or_the_environment(string word)
    {
        var expected = word == "v1" ? DockerProxy.Relay.Tcp.ProxyProtocolVersion.V1 : DockerProxy.Relay.Tcp.ProxyProtocolVersion.V2;
        string[] classic = ["-host-port", "8080", "-container-ip", "172.17.0.2", "-container-port", "80"];
        OptionsBinder.Bind(GoFlagParser.Parse([.. classic, "-proxy-protocol", word]).Values, _ => null).Tcp.ProxyProtocol.Should().Be(expected);
        OptionsBinder.Bind(GoFlagParser.Parse(classic).Values, name => name == "DOCKER_PROXY_PROXY_PROTOCOL" ? word : null).Tcp.ProxyProtocol.Should().Be(expected);
        OptionsBinder.Bind(GoFlagParser.Parse(classic).Values, _ => null).Tcp.ProxyProtocol.Should().Be(DockerProxy.Relay.Tcp.ProxyProtocolVersion.None);
        FluentActions.Invoking(() => OptionsBinder.Bind(GoFlagParser.Parse([.. classic, "-proxy-protocol", "v3"]).Values, _ => null))
            .Should().Throw<StartupException>().WithMessage("invalid -proxy-protocol \"v3\": must be v1 or v2");
    }

    private sealed class TempFile : IDisposable
    {
        internal TempFile(string content)
        {
            Path = System.IO.Path.GetTempFileName();
            File.WriteAllText(Path, content);
        }

        internal string Path { get; }

        public void Dispose() => File.Delete(Path);
    }
}
